import { randomBytes } from 'node:crypto';
import { createReadStream } from 'node:fs';
import { mkdir, open, readdir, readFile, rename, rm, stat, type FileHandle } from 'node:fs/promises';
import { basename, dirname, join } from 'node:path';
import type { Readable } from 'node:stream';
import { pathToFileURL } from 'node:url';
import { artifactPath, ArtifactKey, Digest, manifestPath } from '@continuity/artifacts';
import { BackupLocation, CleanupResult, CopyWriter, LocationError } from './location.js';

const PARTIAL = '.partial-';
const MANIFEST_SUFFIX = '.manifest.json';

/** fsync a directory so a rename in it survives a crash. */
const syncDir = async (dir: string) => {
  const handle = await open(dir, 'r');
  try {
    await handle.sync();
  } finally {
    await handle.close();
  }
};

const writeAll = async (handle: FileHandle, chunk: Buffer) => {
  let offset = 0;
  while (offset < chunk.length) {
    const { bytesWritten } = await handle.write(chunk, offset, chunk.length - offset);
    offset += bytesWritten;
  }
};

/**
 * `data` written and fsync'd under a temporary name beside `path`: `install` moves it to `path`
 * and fsyncs the folder, `discard` removes it.
 */
const stageFile = async (path: string, data: Buffer) => {
  const dir = dirname(path);
  const temp = `${dir}/.${path.slice(dir.length + 1)}${PARTIAL}${randomBytes(4).toString('hex')}`;
  const handle = await open(temp, 'wx', 0o640);
  try {
    await writeAll(handle, data);
    await handle.sync();
    await handle.close();
  } catch (error) {
    await handle.close().catch(() => undefined);
    await rm(temp, { force: true });
    throw error;
  }
  return {
    install: async () => {
      await rename(temp, path).catch(async (error) => {
        await rm(temp, { force: true });
        throw error;
      });
      await syncDir(dir);
    },
    discard: () => rm(temp, { force: true }),
  };
};

/** Writes `data` to `path` atomically: temporary name, fsync, rename, fsync of the directory. */
export const writeFileAtomic = async (path: string, data: Buffer) => (await stageFile(path, data)).install();

/**
 * A copy is flushed in the background (fdatasync) each time this much more was written, so the
 * fsync before its commit finds little left to write: the device writes while the source is
 * still producing, not after it ended.
 */
export const FLUSH_EVERY_BYTES = 8 << 20;
/**
 * One background flush at a time, whatever the copy: a flush holds a thread-pool thread (four by
 * default) for as long as the device takes, and the copies' writes need the others.
 */
let backgroundFlush: Promise<void> | null = null;

/**
 * A directory on a filesystem (local disk, NAS mount, …). Copies are written under a temporary
 * name (`.<id>.dump.partial-<rand>`), fsync'd, then renamed: a reader never sees a partial copy
 * under its final name, and a copy without its manifest is not a complete backup.
 */
export class FilesystemLocation implements BackupLocation {
  readonly kind = 'filesystem' as const;

  constructor(
    readonly name: string,
    readonly site: string,
    readonly medium: string,
    readonly root: string,
  ) {}

  private pathOf(key: ArtifactKey) {
    return join(this.root, artifactPath(key));
  }
  private manifestPathOf(key: ArtifactKey) {
    return join(this.root, manifestPath(key));
  }
  uriOf(key: ArtifactKey) {
    return pathToFileURL(this.pathOf(key)).href;
  }
  manifestUriOf(key: ArtifactKey) {
    return pathToFileURL(this.manifestPathOf(key)).href;
  }

  async begin(key: ArtifactKey): Promise<CopyWriter> {
    const final = this.pathOf(key);
    const manifest = this.manifestPathOf(key);
    const dir = dirname(final);
    // The final name's last part: a WAL key's backupId holds folders (wal/<timeline>/<segment>).
    const temp = join(dir, `.${basename(final)}${PARTIAL}${randomBytes(4).toString('hex')}`);
    let handle: FileHandle | null = null;
    try {
      await mkdir(dir, { recursive: true });
      handle = await open(temp, 'wx', 0o640);
    } catch (error) {
      throw new LocationError(this.name, `cannot create ${temp}: ${(error as Error).message}`, { cause: error });
    }
    const location = this.name;
    let written = 0;
    let flushedTo = 0;
    let flushing: Promise<void> | null = null;
    /**
     * A failed background flush fails the copy: Linux reports a write-back error to a file
     * descriptor once, so the fsync at `finish` would not see it again.
     */
    let flushError: unknown = null;
    let committedFinal = false;
    let committedManifest = false;
    const fail = (what: string, error: unknown) => new LocationError(location, `${what} ${temp}: ${(error as Error).message}`, { cause: error });
    const flushInBackground = () => {
      if (backgroundFlush || flushing || written - flushedTo < FLUSH_EVERY_BYTES) return;
      const upTo = written;
      flushing = backgroundFlush = handle!.datasync().then(
        () => void (flushedTo = upTo),
        (error: unknown) => void (flushError ??= error),
      );
      void flushing.finally(() => {
        flushing = null;
        backgroundFlush = null;
      });
    };
    const writer: CopyWriter = {
      location,
      uri: this.uriOf(key),
      manifestUri: this.manifestUriOf(key),
      write: async (chunk) => {
        if (flushError) throw fail('cannot flush', flushError);
        try {
          await writeAll(handle!, chunk);
          written += chunk.length;
        } catch (error) {
          throw fail('cannot write', error);
        }
        flushInBackground();
      },
      finish: async (expected: Digest) => {
        try {
          await flushing;
          if (flushError) throw flushError;
          await handle!.sync();
          await handle!.close();
          handle = null;
        } catch (error) {
          throw fail('cannot fsync', error);
        }
        const size = (await stat(temp)).size;
        if (size !== expected.sizeBytes || written !== expected.sizeBytes) {
          throw new LocationError(location, `${temp} holds ${size} bytes, expected ${expected.sizeBytes}`);
        }
      },
      commit: async (manifestBytes) => {
        try {
          // The manifest is written and fsync'd while the copy takes its final name, and takes its
          // own name only once the copy's is durable: a manifest never names a copy a crash could lose.
          const [moved, staged] = await Promise.allSettled([
            (async () => {
              await rename(temp, final);
              committedFinal = true;
              await syncDir(dir);
            })(),
            stageFile(manifest, manifestBytes),
          ]);
          if (moved.status === 'rejected') {
            if (staged.status === 'fulfilled') await staged.value.discard();
            throw moved.reason;
          }
          if (staged.status === 'rejected') throw staged.reason;
          committedManifest = true; // before the rename: an abort removes it even if the folder's fsync fails after
          await staged.value.install();
        } catch (error) {
          throw new LocationError(location, `cannot commit ${final}: ${(error as Error).message}`, { cause: error });
        }
      },
      abort: async (): Promise<CleanupResult> => {
        try {
          await flushing;
          await handle?.close().catch(() => undefined);
          handle = null;
          await rm(temp, { force: true });
          if (committedManifest) await rm(manifest, { force: true });
          if (committedFinal) await rm(final, { force: true });
          await syncDir(dir).catch(() => undefined);
          return { location, uri: writer.uri, removed: true, error: null };
        } catch (error) {
          return { location, uri: writer.uri, removed: false, error: (error as Error).message };
        }
      },
    };
    return writer;
  }

  async read(key: ArtifactKey): Promise<Readable> {
    const path = this.pathOf(key);
    try {
      await stat(path);
    } catch (error) {
      throw new LocationError(this.name, `cannot read ${path}: ${(error as Error).message}`, { cause: error });
    }
    return createReadStream(path, { highWaterMark: 1 << 20 });
  }

  async listManifests(resource: string): Promise<string[]> {
    const top = join(this.root, resource);
    const manifests = (names: string[]) => names.filter((n) => n.endsWith(MANIFEST_SUFFIX) && !n.startsWith('.'));
    const found = manifests(await readdir(top).catch(() => [] as string[]));
    for (const timeline of await readdir(join(top, 'wal')).catch(() => [] as string[])) {
      if (!/^[0-9A-F]{8}$/.test(timeline)) continue;
      for (const name of manifests(await readdir(join(top, 'wal', timeline)).catch(() => [] as string[]))) found.push(`wal/${timeline}/${name}`);
    }
    return found;
  }

  async readManifest(key: ArtifactKey): Promise<Buffer | null> {
    return readFile(this.manifestPathOf(key)).catch((error: NodeJS.ErrnoException) => {
      if (error.code === 'ENOENT') return null;
      throw new LocationError(this.name, `cannot read manifest: ${error.message}`, { cause: error });
    });
  }

  async remove(key: ArtifactKey) {
    try {
      // Manifest first: a copy without a manifest is not a backup, so a half-done removal is safe.
      await rm(this.manifestPathOf(key), { force: true });
      await rm(this.pathOf(key), { force: true });
      await syncDir(dirname(this.pathOf(key))).catch(() => undefined);
      return { deleted: true, error: null };
    } catch (error) {
      return { deleted: false, error: (error as Error).message };
    }
  }

  /** Temporary files left by a crashed run (their backup is no longer running). */
  async sweepPartials(isRunning: (backupId: string) => boolean): Promise<string[]> {
    const removed: string[] = [];
    const resources = await readdir(this.root, { withFileTypes: true }).catch(() => []);
    for (const resource of resources.filter((d) => d.isDirectory())) {
      const dir = join(this.root, resource.name);
      for (const name of await readdir(dir).catch(() => [] as string[])) {
        const match = /^\.([0-9a-f-]{36})\..*\.partial-[0-9a-f]+$/.exec(name);
        if (match && !isRunning(match[1]!)) {
          await rm(join(dir, name), { force: true });
          removed.push(join(dir, name));
        }
      }
    }
    return removed;
  }

  async close() {}
}
