import { spawn, spawnSync } from 'node:child_process';
import { Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { Decoder, Encoder } from '@toondepauw/node-zstd';
import { readFrames } from './fd-frames.js';

/**
 * Zstandard compression of artifact streams (`.tar.zst`). Node 20's zlib has no zstd, and the
 * binding we use (`@toondepauw/node-zstd`: libzstd through napi-rs, prebuilt per platform inside
 * its npm packages, nothing downloaded at install) compresses whole buffers, not streams. So the
 * stream is cut into chunks, each compressed as one independent zstd frame: concatenated frames
 * are a valid zstd stream (`zstd -d` and `tar --zstd` read it as one), memory stays bounded by the
 * chunk size, and up to `parallel` frames compress at once on libuv's thread pool — one read pass,
 * several cores, as pgBackRest's `process-max` does with processes. Reading back splits the stream
 * at frame boundaries (`ZstdFrameSplitter`: the frame header and each block header give the
 * lengths) and decodes frame by frame, in order.
 */

/** zstd's level 1: the codec's fast end, which keeps pace with pg_basebackup on few cores. */
export const ZSTD_LEVEL = 1;
export const ZSTD_FRAME_BYTES = 4 << 20;

export class ZstdFormatError extends Error {
  override readonly name = 'ZstdFormatError';
  readonly code = 'ARTIFACT.ZSTD_INVALID';
}

/** Gathers the input into chunks of `size` bytes (the last may be shorter). */
async function* chunksOf(source: AsyncIterable<Buffer | Uint8Array>, size: number): AsyncGenerator<Buffer> {
  let parts: Buffer[] = [];
  let length = 0;
  for await (const piece of source) {
    let chunk = Buffer.isBuffer(piece) ? piece : Buffer.from(piece);
    while (length + chunk.length >= size) {
      const take = size - length;
      // A frame wholly inside one piece is a view of it, not a copy.
      if (length === 0) {
        yield chunk.subarray(0, take);
        chunk = chunk.subarray(take);
        continue;
      }
      parts.push(chunk.subarray(0, take));
      yield Buffer.concat(parts, size);
      chunk = chunk.subarray(take);
      parts = [];
      length = 0;
    }
    if (chunk.length) {
      parts.push(chunk);
      length += chunk.length;
    }
  }
  if (length) yield Buffer.concat(parts, length);
}

/**
 * Compresses `source` into a zstd stream of independent frames, `frameBytes` of input each, up
 * to `parallel` compressing at a time; frames come out in input order.
 */
export async function* zstdCompress(
  source: AsyncIterable<Buffer | Uint8Array>,
  options: { level?: number; frameBytes?: number; parallel?: number } = {},
): AsyncGenerator<Buffer> {
  const encoder = new Encoder(options.level ?? ZSTD_LEVEL);
  const parallel = Math.max(1, options.parallel ?? 2);
  const pending: Promise<Buffer>[] = [];
  for await (const chunk of chunksOf(source, options.frameBytes ?? ZSTD_FRAME_BYTES)) {
    const frame = encoder.encode(chunk);
    frame.catch(() => undefined); // awaited in order below; a failure surfaces there
    pending.push(frame);
    if (pending.length >= parallel) yield await pending.shift()!;
  }
  while (pending.length) yield await pending.shift()!;
}

/**
 * The same frames as `zstdCompress`, from a pipe or FIFO's read end (`fd`, non-blocking) read
 * straight into a few frame-sized buffers (`readFrames`), each filled again once its frame is
 * compressed: a stream of a gigabyte allocates a few MiB, not a buffer per read plus a copy per
 * frame for the garbage collector to chase (at pg_basebackup's pace that chase, not zstd, held the
 * main thread). `observe` sees each read's bytes, in order, before they are compressed; the view
 * is valid only during the call (the buffer is reused), so keep a copy of anything wanted. Reading
 * pauses while `parallel` frames compress and one more waits. The descriptor is closed at the end.
 */
export async function* zstdCompressFd(
  fd: number,
  options: { level?: number; frameBytes?: number; parallel?: number; observe?: (bytes: Buffer) => void } = {},
): AsyncGenerator<Buffer> {
  const encoder = new Encoder(options.level ?? ZSTD_LEVEL);
  const frameBytes = options.frameBytes ?? ZSTD_FRAME_BYTES;
  const parallel = Math.max(1, options.parallel ?? 2);
  const free: Buffer[] = [];
  const pending: Promise<Buffer>[] = [];
  const frames = readFrames(fd, { frameBytes, ahead: 1, observe: options.observe, allocate: () => free.pop() ?? Buffer.allocUnsafeSlow(frameBytes) });
  try {
    for await (const frame of frames) {
      // Only full frames come back to be refilled; the last, shorter one is the stream's end.
      const compressed = encoder.encode(frame).finally(() => frame.length === frameBytes && free.push(frame));
      compressed.catch(() => undefined); // awaited in order below; a failure surfaces there
      pending.push(compressed);
      if (pending.length >= parallel) yield await pending.shift()!;
    }
    while (pending.length) yield await pending.shift()!;
  } finally {
    await frames.return(undefined);
  }
}

const ZSTD_MAGIC = 0xfd2fb528;
const isSkippable = (magic: number) => (magic & 0xfffffff0) === 0x184d2a50;

/**
 * Finds frame boundaries in a zstd stream (RFC 8878 §3.1): a frame is its magic number, a header
 * whose length the descriptor byte gives, blocks each announcing its size (an RLE block stores one
 * byte), and a 4-byte checksum when the descriptor says so; skippable frames state their size.
 * `push` returns every complete frame so far; `end` throws if bytes of an unfinished frame remain.
 */
export class ZstdFrameSplitter {
  constructor(private readonly maxFrameBytes = Number.POSITIVE_INFINITY) {}
  private buffer: Buffer = Buffer.alloc(0);
  /** Bytes at the start of `buffer` known to belong to the current frame, and where parsing resumes. */
  private offset = 0;
  private state: 'magic' | 'blocks' = 'magic';
  private checksum = false;
  private skipTo = -1;

  push(chunk: Buffer): Buffer[] {
    this.buffer = this.buffer.length ? Buffer.concat([this.buffer, chunk]) : chunk;
    const frames: Buffer[] = [];
    for (;;) {
      const end = this.frameEnd();
      if (end === null) {
        if (this.buffer.length > this.maxFrameBytes) throw new ZstdFrameTooLargeError(this.maxFrameBytes);
        break;
      }
      frames.push(this.buffer.subarray(0, end));
      this.buffer = this.buffer.subarray(end);
      this.offset = 0;
      this.state = 'magic';
      this.skipTo = -1;
    }
    return frames;
  }

  end(): void {
    if (this.buffer.length) throw new ZstdFormatError(`the zstd stream ends inside a frame (${this.buffer.length} bytes of it)`);
  }

  /** The length of the first frame in `buffer` when it is complete; null when more bytes are needed. */
  private frameEnd(): number | null {
    const b = this.buffer;
    if (this.state === 'magic') {
      if (this.skipTo >= 0) return b.length >= this.skipTo ? this.skipTo : null;
      if (b.length < 8) return null;
      const magic = b.readUInt32LE(0);
      if (isSkippable(magic)) {
        this.skipTo = 8 + b.readUInt32LE(4);
        return b.length >= this.skipTo ? this.skipTo : null;
      }
      if (magic !== ZSTD_MAGIC) throw new ZstdFormatError(`not a zstd frame (magic 0x${magic.toString(16)})`);
      const descriptor = b[4]!;
      const fcsFlag = descriptor >> 6;
      const singleSegment = (descriptor >> 5) & 1;
      const dictionaryBytes = [0, 1, 2, 4][descriptor & 3]!;
      const contentSizeBytes = fcsFlag === 0 ? singleSegment : [1, 2, 4, 8][fcsFlag]!;
      this.checksum = ((descriptor >> 2) & 1) === 1;
      this.offset = 5 + (singleSegment ? 0 : 1) + dictionaryBytes + contentSizeBytes;
      this.state = 'blocks';
    }
    for (;;) {
      if (b.length < this.offset + 3) return null;
      const header = b.readUIntLE(this.offset, 3);
      const last = header & 1;
      const type = (header >> 1) & 3;
      if (type === 3) throw new ZstdFormatError('reserved zstd block type');
      const size = type === 1 ? 1 : header >> 3;
      const next = this.offset + 3 + size;
      if (b.length < next) return null;
      this.offset = next;
      if (last) {
        const end = this.offset + (this.checksum ? 4 : 0);
        return b.length >= end ? end : null;
      }
    }
  }
}

/**
 * The largest frame decoded in this process: ours hold 4 MiB of input each; a writer that makes
 * one frame of a whole stream (PostgreSQL's server-side compression) is decoded as a stream by the
 * system's `zstd` ({@link zstdDecompressStream}), never whole in memory.
 */
export const ZSTD_MAX_FRAME_BYTES = 16 << 20;

export class ZstdFrameTooLargeError extends ZstdFormatError {
  constructor(max: number) {
    super(`a zstd frame larger than ${max} bytes: decoding it needs the system's zstd program (install the zstd package)`);
  }
}

/**
 * Decompresses a zstd stream of one or more frames (ours or any zstd writer's), frame by frame,
 * each decoded whole: frames larger than `maxFrameBytes` (default {@link ZSTD_MAX_FRAME_BYTES}) are refused.
 */
export async function* zstdDecompress(source: AsyncIterable<Buffer | Uint8Array>, options: { parallel?: number; maxFrameBytes?: number } = {}): AsyncGenerator<Buffer> {
  const decoder = new Decoder();
  const splitter = new ZstdFrameSplitter(options.maxFrameBytes ?? ZSTD_MAX_FRAME_BYTES);
  const parallel = Math.max(1, options.parallel ?? 2);
  const pending: Promise<Buffer>[] = [];
  for await (const piece of source) {
    for (const frame of splitter.push(Buffer.isBuffer(piece) ? piece : Buffer.from(piece))) {
      // The frame's bytes are a view of a buffer the splitter keeps no longer: safe to hand off.
      const decoded = decoder.decode(frame);
      decoded.catch(() => undefined);
      pending.push(decoded);
      if (pending.length >= parallel) yield await pending.shift()!.catch(badFrame);
    }
  }
  splitter.end();
  while (pending.length) yield await pending.shift()!.catch(badFrame);
}

const badFrame = (error: Error): never => {
  throw new ZstdFormatError(`cannot decompress a zstd frame: ${error.message}`, { cause: error });
};

let systemZstd: boolean | null = null;
/** Whether the system's `zstd` program runs. */
export const hasSystemZstd = () => (systemZstd ??= spawnSync('zstd', ['--version'], { stdio: 'ignore' }).status === 0);

/**
 * Decompresses any zstd stream as a stream, whatever its frames' sizes: through the system's
 * `zstd -d` (a process of its own, bounded memory) when installed, else in this process frame by
 * frame ({@link zstdDecompress}, which refuses frames it would have to hold whole).
 */
export async function* zstdDecompressStream(source: AsyncIterable<Buffer | Uint8Array>): AsyncGenerator<Buffer> {
  if (!hasSystemZstd()) {
    yield* zstdDecompress(source);
    return;
  }
  const child = spawn('zstd', ['-d', '-c', '-q'], { stdio: ['pipe', 'pipe', 'pipe'] });
  let stderr = '';
  child.stderr.on('data', (chunk: Buffer) => (stderr = (stderr + chunk.toString()).slice(-2000)));
  const exited = new Promise<void>((resolve, reject) => {
    child.once('error', (error) => reject(new ZstdFormatError(`cannot run zstd: ${error.message}`)));
    child.once('close', (code, signal) => (code === 0 ? resolve() : reject(new ZstdFormatError(`zstd -d ${signal ? `was killed by ${signal}` : `exited with ${code}`}: ${stderr.trim() || 'no message'}`))));
  });
  exited.catch(() => undefined);
  const kill = () => child.kill('SIGKILL');
  const feeding = pipeline(Readable.from(source, { objectMode: false }), child.stdin);
  // A broken pipe is zstd closing its input on refusing it: it exits by itself, saying why. Any
  // other failure is the source's, and zstd is stopped.
  feeding.catch((error: NodeJS.ErrnoException) => (error.code !== 'EPIPE' && child.exitCode === null && child.signalCode === null ? kill() : undefined));
  try {
    // The last piece is held back until zstd exited 0: the stream's end is never passed on before
    // the decoder confirmed it read a whole, valid input.
    let last: Buffer | null = null;
    for await (const chunk of child.stdout as AsyncIterable<Buffer>) {
      if (last) yield last;
      last = chunk;
    }
    const [fed, exit] = await Promise.allSettled([feeding, exited]);
    // zstd refusing its input breaks the pipe to it (EPIPE): its own exit code and message say
    // why. Killed by a signal (ours, when the source failed), the source's error does.
    if (exit.status === 'rejected' && child.exitCode !== null) throw exit.reason;
    if (fed.status === 'rejected') throw fed.reason;
    if (exit.status === 'rejected') throw exit.reason;
    if (last) yield last;
  } finally {
    if (child.exitCode === null && child.signalCode === null) kill();
  }
}
