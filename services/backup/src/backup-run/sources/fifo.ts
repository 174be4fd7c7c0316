import { execFile } from 'node:child_process';
import { closeSync, constants, openSync } from 'node:fs';
import { mkdtemp, rm } from 'node:fs/promises';
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
