import { spawn, spawnSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { closeSync, constants, mkdtempSync, openSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { zstdCompress, zstdCompressFd, zstdDecompress, zstdDecompressStream, ZstdFormatError, ZstdFrameSplitter } from './zstd.js';

const collect = async (source: AsyncIterable<Buffer>) => {
  const parts: Buffer[] = [];
  for await (const part of source) parts.push(part);
  return Buffer.concat(parts);
};
async function* pieces(data: Buffer, size: number) {
  for (let i = 0; i < data.length; i += size) yield data.subarray(i, i + size);
}

// Compressible and incompressible stretches, so frames hold compressed, raw and RLE blocks.
const sample = Buffer.concat([randomBytes(300_000), Buffer.alloc(500_000, 7), Buffer.from('orders '.repeat(100_000)), randomBytes(77)]);

describe('zstd streams', () => {
  it('round-trips through independent frames, whatever the input and output piece sizes', async () => {
    for (const [frameBytes, inPiece, outPiece] of [
      [64 << 10, 1000, 1],
      [256 << 10, 65536, 4093],
      [1 << 20, sample.length, 1 << 20],
      [100_000, 250_000, 7777], // frames inside one piece (views) and across two (gathered)
    ] as const) {
      const compressed = await collect(zstdCompress(pieces(sample, inPiece), { frameBytes, parallel: 3 }));
      expect(compressed.length).toBeLessThan(sample.length);
      expect((await collect(zstdDecompress(pieces(compressed, outPiece)))).equals(sample)).toBe(true);
    }
  });

  it('writes a stream the zstd tool reads as one (an operator can restore by hand)', async () => {
    const compressed = await collect(zstdCompress(pieces(sample, 8192), { frameBytes: 100_000 }));
    const tool = spawnSync('zstd', ['-d', '-c'], { input: compressed, maxBuffer: 1 << 26 });
    if (tool.error) return; // the zstd command is optional on a developer machine; the round trip above still holds
    expect(tool.status).toBe(0);
    expect(Buffer.from(tool.stdout).equals(sample)).toBe(true);
  });

  it('splits frames exactly, including skippable frames', () => {
    const skippable = Buffer.concat([Buffer.from([0x50, 0x2a, 0x4d, 0x18, 3, 0, 0, 0]), Buffer.from('abc')]);
    const splitter = new ZstdFrameSplitter();
    const frames = [...splitter.push(skippable.subarray(0, 5)), ...splitter.push(skippable.subarray(5))];
    expect(frames.map((f) => f.length)).toEqual([11]);
    splitter.end();
  });

  it('refuses a truncated stream and bytes that are not zstd', async () => {
    const compressed = await collect(zstdCompress(pieces(sample, 8192), { frameBytes: 100_000 }));
    await expect(collect(zstdDecompress(pieces(compressed.subarray(0, compressed.length - 10), 5000)))).rejects.toThrow(/ends inside a frame/);
    await expect(collect(zstdDecompress(pieces(Buffer.from('not zstd at all'), 4)))).rejects.toBeInstanceOf(ZstdFormatError);
  });
});

describe('zstd frames read from a FIFO into reused buffers', () => {
  /** A FIFO's non-blocking read end with a child writing `data` into it in `piece`-byte writes. */
  const fifoWith = (data: Buffer, piece: number) => {
    const dir = mkdtempSync(join(tmpdir(), 'zstd-fd-'));
    const path = join(dir, 'fifo');
    spawnSync('mkfifo', [path]);
    const readFd = openSync(path, constants.O_RDONLY | constants.O_NONBLOCK);
    const writeFd = openSync(path, constants.O_WRONLY);
    rmSync(dir, { recursive: true, force: true });
    const file = join(tmpdir(), `zstd-fd-${process.pid}-${piece}`);
    writeFileSync(file, data);
    const child = spawn('dd', [`if=${file}`, `bs=${piece}`, 'status=none'], { stdio: ['ignore', writeFd, 'inherit'] });
    closeSync(writeFd);
    child.once('close', () => rmSync(file, { force: true }));
    return readFd;
  };

  it('compresses what the FIFO gives, in writes of any size, into frames zstdDecompress reads back; observe sees every byte in order', async () => {
    for (const [frameBytes, piece] of [
      [64 << 10, 1000],
      [256 << 10, 65536],
      [1 << 20, 3_000_000],
    ] as const) {
      const seen: Buffer[] = [];
      const compressed = await collect(zstdCompressFd(fifoWith(sample, piece), { frameBytes, parallel: 3, observe: (bytes: Buffer) => seen.push(Buffer.from(bytes)) }));
      expect(Buffer.concat(seen).equals(sample)).toBe(true);
      expect((await collect(zstdDecompress(pieces(compressed, 4096)))).equals(sample)).toBe(true);
    }
  });

  it('ends with nothing for an empty input', async () => {
    expect((await collect(zstdCompressFd(fifoWith(Buffer.alloc(0), 512)))).length).toBe(0);
  });
});

describe('one large zstd frame, as PostgreSQL\'s server-side compression writes it', () => {
  // `zstd` writes one frame of its whole input (no content size when streaming from stdin).
  const big = Buffer.concat([randomBytes(20 << 20), Buffer.alloc(8 << 20, 3)]);
  const oneFrame = spawnSync('zstd', ['-1', '-c', '-q'], { input: big, maxBuffer: 64 << 20 }).stdout as Buffer;

  it('is one frame larger than the in-process limit', () => {
    const splitter = new ZstdFrameSplitter();
    expect(splitter.push(oneFrame)).toHaveLength(1);
    expect(oneFrame.length).toBeGreaterThan(16 << 20);
  });

  it('is refused by the in-process decoder before it is held whole, saying what to install', async () => {
    await expect(collect(zstdDecompress(pieces(oneFrame, 1 << 20)))).rejects.toThrow(/larger than 16777216 bytes.*install the zstd package/);
  });

  it('is decoded as a stream by the system zstd, with our small frames after it', async () => {
    const tail = await collect(zstdCompress(pieces(sample, 65536), { frameBytes: 100_000 }));
    const out = await collect(zstdDecompressStream(pieces(Buffer.concat([oneFrame, tail]), 1 << 20)));
    expect(out.equals(Buffer.concat([big, sample]))).toBe(true);
  });

  it('a corrupt stream fails the system decoder with its message', async () => {
    const corrupt = Buffer.from(oneFrame);
    corrupt.fill(0xff, 1000, 5000);
    await expect(collect(zstdDecompressStream(pieces(corrupt, 1 << 20)))).rejects.toThrow(/^zstd -d exited with 1: .+/);
  });

  it('input zstd refuses at once (not zstd at all, 64 MiB of it) fails with zstd\'s message, not the broken pipe', async () => {
    const error = await collect(zstdDecompressStream(pieces(randomBytes(64 << 20), 1 << 20))).catch((e: Error) => e);
    expect(error).toBeInstanceOf(ZstdFormatError);
    expect((error as Error).message).toMatch(/^zstd -d exited with 1: .*(unknown header|not in zstd format|unsupported format)/i);
  });

  it('a failing source fails the stream with the source\'s error and stops zstd', async () => {
    async function* failing() {
      yield oneFrame.subarray(0, 1 << 20);
      throw new Error('copy went away');
    }
    await expect(collect(zstdDecompressStream(failing()))).rejects.toThrow('copy went away');
  });
});

describe('the system zstd inside a pipeline to a tar extractor', () => {
  it('the pipeline settles every time (the end is passed on only after zstd exited)', async () => {
    const { extract, Header } = await import('tar');
    const { pipeline } = await import('node:stream/promises');
    const { tarPastEndMarkers } = await import('./tar-stream.js');
    const member = (path: string, body: Buffer) => {
      const header = new Header({ path, mode: 0o600, size: body.length, mtime: new Date(0), type: 'File' });
      header.encode();
      return Buffer.concat([header.block!, body, Buffer.alloc((512 - (body.length % 512)) % 512)]);
    };
    const tars = Buffer.concat([member('big', randomBytes(3_000_000)), Buffer.alloc(1024), member('backup_manifest', Buffer.from('{}')), Buffer.alloc(1024)]);
    const compressed = spawnSync('zstd', ['-1', '-c', '-q'], { input: tars, maxBuffer: 64 << 20 }).stdout as Buffer;
    for (let round = 0; round < 6; round++) {
      const dir = mkdtempSync(join(tmpdir(), 'continuity-zstd-tar-'));
      try {
        const settled = pipeline(pieces(compressed, 1 << 20), (s: AsyncIterable<Buffer>) => zstdDecompressStream(s), (s: AsyncIterable<Buffer>) => tarPastEndMarkers(s), extract({ cwd: dir, strict: true }));
        let timer: NodeJS.Timeout | undefined;
        await Promise.race([settled, new Promise((_, reject) => (timer = setTimeout(() => reject(new Error(`round ${round}: the pipeline did not settle in 10 s`)), 10_000)))]).finally(() => clearTimeout(timer));
        expect(readdirSync(dir).sort()).toEqual(['backup_manifest', 'big']);
      } finally {
        rmSync(dir, { recursive: true, force: true });
      }
    }
  }, 90_000);
});
