import { execFile } from 'node:child_process';
import { closeSync, constants, openSync } from 'node:fs';
import { mkdtemp, rm } from 'node:fs/promises';
import { Socket, type OnReadOpts, type SocketConstructorOpts } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { SourceError } from './source.js';

const run = promisify(execFile);

/**
 * A FIFO for a child's stdout, read into our own buffers (a child's stdout pipe hands Node a new
 * buffer per read instead). Made in a private folder and unlinked at once: only the two
 * descriptors remain. The read end is opened without blocking, so the write end opens at once;
 * the reader sees the end of the stream when the child, the last writer, exits.
 */
export const fifo = async (tool: string): Promise<{ readFd: number; writeFd: number }> => {
  const dir = await mkdtemp(join(tmpdir(), 'continuity-source-'));
  const path = join(dir, 'stdout');
  try {
    await run('mkfifo', ['-m', '0600', path]).catch((error: Error & { stderr?: string }) => {
      throw new SourceError(`cannot make a FIFO for ${tool}: ${error.stderr?.trim() || error.message}`);
    });
    const readFd = openSync(path, constants.O_RDONLY | constants.O_NONBLOCK);
    try {
      return { readFd, writeFd: openSync(path, constants.O_WRONLY) };
    } catch (error) {
      closeSync(readFd);
      throw error;
    }
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
};

/** The size of the chunks `readFrames` hands on: what the one pass writes to every copy at once. */
export const FRAME_BYTES = 1 << 20;

/**
 * Reads a FIFO's read end into frames of `frameBytes`, each handed on when full (the last when the
 * writer exits). libuv reads straight into the frame: no buffer per read and no gathering copy, and
 * the consumer sees one chunk per frame however small the child's writes (pg_dump writes 4 KiB at
 * a time). A frame is never refilled (the copies and the encryption may hold it). With `ahead`
 * frames waiting for the consumer, reading pauses and the child waits on the full pipe. The
 * descriptor is closed when the stream ends or the generator is closed.
 */
export async function* readFrames(fd: number, options: { frameBytes?: number; ahead?: number } = {}): AsyncGenerator<Buffer> {
  const frameBytes = options.frameBytes ?? FRAME_BYTES;
  const ahead = Math.max(1, options.ahead ?? 2);
  const ready: Buffer[] = [];
  let frame: Buffer = Buffer.allocUnsafeSlow(frameBytes);
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
    frame = Buffer.allocUnsafeSlow(frameBytes);
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
