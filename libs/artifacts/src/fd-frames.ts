import { Socket, type OnReadOpts, type SocketConstructorOpts } from 'node:net';

/** The size of the frames `readFrames` hands on by default: what a backup's one pass writes to every copy at once. */
export const FRAME_BYTES = 1 << 20;

export interface ReadFramesOptions {
  frameBytes?: number;
  /** Frames waiting for the consumer before reading pauses (the writer then waits on the full pipe). */
  ahead?: number;
  /** Sees each read's bytes, in order, as they arrive; the view is valid only during the call. */
  observe?: (bytes: Buffer) => void;
  /**
   * The buffer the next frame is read into (`frameBytes` long). Default: a new one per frame, as a
   * consumer that keeps frames (copies, encryption) needs; one that is done with a frame once it
   * handed it on may give buffers back to be filled again.
   */
  allocate?: () => Buffer;
}

/**
 * Reads a pipe or FIFO's read end (`fd`, non-blocking) into frames of `frameBytes`, each handed
 * on when full (the last when the writer exits). The socket's `onread` hands libuv our buffer, so
 * libuv reads straight into the frame: no 64 KiB buffer per read for the garbage collector to
 * chase and no gathering copy, and the consumer sees one chunk per frame however small the
 * writer's writes (pg_dump writes 4 KiB at a time); reads wait on the event loop, not on a
 * thread-pool thread. The descriptor is closed when the stream ends or the generator is closed.
 */
export async function* readFrames(fd: number, options: ReadFramesOptions = {}): AsyncGenerator<Buffer> {
  const frameBytes = options.frameBytes ?? FRAME_BYTES;
  const ahead = Math.max(1, options.ahead ?? 2);
  const allocate = options.allocate ?? (() => Buffer.allocUnsafeSlow(frameBytes));
  const ready: Buffer[] = [];
  let frame: Buffer = allocate();
  let length = 0;
  let ended = false;
  let failure: Error | null = null;
  let paused = false;
  let wake: (() => void) | null = null;
  const notify = () => {
    wake?.();
    wake = null;
  };
  const handOn = () => {
    ready.push(frame.subarray(0, length));
    frame = allocate();
    length = 0;
    if (ready.length >= ahead && !paused) {
      paused = true;
      socket.pause();
    }
    notify();
  };
  // `onread` is Node's (net.Socket, since 12.2/15.8) though @types/node lists it for connect() only.
  const socketOptions: SocketConstructorOpts & { onread: OnReadOpts } = {
    fd,
    readable: true,
    writable: false,
    onread: {
      buffer: () => frame.subarray(length),
      callback: (n: number) => {
        try {
          options.observe?.(frame.subarray(length, length + n));
        } catch (error) {
          failure ??= error as Error;
        }
        length += n;
        if (length === frameBytes) handOn();
        return true;
      },
    },
  };
  const socket = new Socket(socketOptions);
  socket.once('end', () => {
    if (length) handOn();
    ended = true;
    notify();
  });
  socket.once('error', (error) => {
    failure ??= error;
    notify();
  });
  try {
    for (;;) {
      if (failure) throw failure;
      const next = ready.shift();
      if (next) {
        if (paused && ready.length < ahead) {
          paused = false;
          socket.resume();
        }
        yield next;
        continue;
      }
      if (ended) return;
      await new Promise<void>((resolve) => (wake = resolve));
    }
  } finally {
    socket.destroy();
  }
}
