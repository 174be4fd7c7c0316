import { spawn } from 'node:child_process';
import { closeSync } from 'node:fs';
import { createHash } from 'node:crypto';
import { readFrames } from '@continuity/artifacts';
import { fifo } from './fifo.js';

/** Block `i` of the test's content: not the same twice in a row, so a lost or repeated block shows. */
const block = (i: number, size: number) => Buffer.alloc(size, i % 251);

/** A child writing `count` blocks of `size` bytes into the FIFO, one write(2) each (as pg_dump writes 4 KiB at a time). */
const writer = async (count: number, size: number) => {
  const pipe = await fifo('test');
  const script = `const fs = require('fs'); for (let i = 0; i < ${count}; i++) fs.writeSync(1, Buffer.alloc(${size}, i % 251));`;
  const child = spawn(process.execPath, ['-e', script], { stdio: ['ignore', pipe.writeFd, 'ignore'] });
  closeSync(pipe.writeFd);
  const exited = new Promise<number | null>((resolve) => child.once('close', resolve));
  const written = createHash('sha256');
  for (let i = 0; i < count; i++) written.update(block(i, size));
  return { readFd: pipe.readFd, child, exited, written };
};

describe('readFrames', () => {
  it('hands on full frames of what a child writes 4 KiB at a time, then the rest when it exits: every byte once, in order', async () => {
    const { readFd, exited, written } = await writer(100, 4096);
    const sizes: number[] = [];
    const read = createHash('sha256');
    for await (const frame of readFrames(readFd, { frameBytes: 64 * 1024 })) {
      sizes.push(frame.length);
      read.update(frame);
    }
    expect(await exited).toBe(0);
    expect(sizes).toEqual([...Array(6).fill(65_536), 409_600 - 6 * 65_536]);
    expect(read.digest('hex')).toBe(written.digest('hex'));
  });

  it('hands on nothing for a child that writes nothing', async () => {
    const { readFd, exited } = await writer(0, 4096);
    const frames: Buffer[] = [];
    for await (const frame of readFrames(readFd)) frames.push(frame);
    expect(await exited).toBe(0);
    expect(frames).toEqual([]);
  });

  it('stops reading when the consumer stops: the child, blocked on the full pipe, sees it closed', async () => {
    const { readFd, child, exited } = await writer(4096, 4096); // 16 MiB: far more than the pipe and two frames hold
    for await (const frame of readFrames(readFd, { frameBytes: 64 * 1024 })) {
      expect(frame.length).toBe(65_536);
      break;
    }
    // dd gets EPIPE (SIGPIPE) on its next write: it ends without having written everything.
    const code = await exited;
    expect(code === 0 ? child.signalCode : code).not.toBe(0);
  });
});
