import { spawn } from 'node:child_process';
import { createHash } from 'node:crypto';
import { closeSync } from 'node:fs';
import { mkdtemp, open, readdir, readFile, rm, stat, type FileHandle } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Readable } from 'node:stream';
import { setTimeout as sleep } from 'node:timers/promises';
import { Encoder } from '@toondepauw/node-zstd';
import { Client } from 'pg';
import { Header } from 'tar';
import { ZSTD_LEVEL, zstdCompressFd, type BaseBackupInfo } from '@continuity/artifacts';
import type { PostgresResourceConfig } from '../../config/backup-config.schema.js';
import {
  basebackupArgs,
  backupLabelFor,
  BaseBackupFormatError,
  infoFromManifest,
  parseBackupLabel,
  serverCompressedBasebackupArgs,
  systemIdentifierOf,
  walRangesOf,
  type ServerIdentity,
} from './basebackup-label.js';
import { clientConfigFor } from './pg-tables.js';
import { pgToolInvocation } from './pg-tool.js';
import { fifo } from './fifo.js';
import { toolVersion } from './postgres.source.js';
import { SourceError, type SourceRun } from './source.js';
import { TarMembers } from './tar-members.js';

/** The tar members read on the way: small files, kept whole. */
const WANTED = new Set(['backup_label', 'backup_manifest', 'PG_VERSION', 'global/pg_control']);

let pgBasebackupVersion: Promise<string> | null = null;

/** What the tar says about the backup; throws when a file PostgreSQL always writes is missing. */
const describe = (members: Map<string, Buffer>, backupId: string): BaseBackupInfo => {
  const need = (name: string) => {
    const bytes = members.get(name);
    if (!bytes) throw new BaseBackupFormatError(`the base backup has no ${name}`);
    return bytes;
  };
  const label = parseBackupLabel(need('backup_label').toString('utf8'));
  if (label.label !== backupLabelFor(backupId)) throw new BaseBackupFormatError(`backup_label names "${label.label}", not ${backupLabelFor(backupId)}`);
  const manifest = need('backup_manifest');
  const ranges = walRangesOf(manifest.toString('utf8'));
  const first = ranges[0]!;
  const last = ranges[ranges.length - 1]!;
  if (first.startLsn !== label.startLsn || first.timeline !== label.timeline) {
    throw new BaseBackupFormatError(`backup_label starts at ${label.startLsn} on timeline ${label.timeline}, backup_manifest at ${first.startLsn} on ${first.timeline}`);
  }
  return {
    startLsn: label.startLsn,
    endLsn: last.endLsn,
    timeline: label.timeline,
    label: label.label,
    pgVersion: need('PG_VERSION').toString('utf8').trim(),
    systemIdentifier: systemIdentifierOf(need('global/pg_control')),
    backupManifestSha256: createHash('sha256').update(manifest).digest('hex'),
  };
};

/** pg_basebackup's exit: resolves on 0, rejects with its last stderr otherwise. */
const exitOf = (child: ReturnType<typeof spawn>) => {
  let stderr = '';
  child.stderr!.on('data', (chunk: Buffer) => (stderr = (stderr + chunk.toString()).slice(-4000)));
  const exited = new Promise<void>((resolve, reject) => {
    child.once('error', (error) => reject(new SourceError(`cannot run pg_basebackup: ${error.message} (is PostgreSQL's client on PATH?)`)));
    child.once('close', (code, signal) => {
      if (code === 0) resolve();
      else reject(new SourceError(`pg_basebackup ${signal ? `was killed by ${signal}` : `exited with ${code}`}: ${stderr.trim() || 'no message'}`));
    });
  });
  return { exited, stderr: () => stderr.trim() };
};

/** What every base-backup run is, whichever side compressed it. */
const baseBackupRun = (fields: Pick<SourceRun, 'stream' | 'tools' | 'done' | 'cancel'>, info: () => BaseBackupInfo | null): SourceRun => ({
  kind: 'postgres',
  method: 'basebackup',
  extension: 'tar.zst',
  expectedBytes: null,
  ...fields,
  index: () => ({ files: null, skipped: [], tables: null, tablesNotRecorded: "a base backup copies the whole cluster's files: no row counts", compression: { format: 'zstd', level: ZSTD_LEVEL }, basebackup: info() }),
});

/** Where a base backup is compressed: by PostgreSQL as it reads (15+), or by this service. */
export type BaseBackupCompression = 'server' | 'service';

/**
 * A physical base backup of the whole cluster. With `server` (the default) and a PostgreSQL 15+
 * server, the server compresses ({@link startServerCompressedSource}); otherwise this service does
 * ({@link startServiceCompressedSource}).
 */
export const startBaseBackupSource = async (resource: PostgresResourceConfig, backupId: string, compression: BaseBackupCompression = 'server'): Promise<SourceRun> => {
  pgBasebackupVersion ??= toolVersion('pg_basebackup').catch(() => 'unknown');
  const version = await pgBasebackupVersion;
  if (compression === 'service') return startServiceCompressedSource(resource, backupId, null);
  let why: string;
  if (Number(/^(\d+)/.exec(version)?.[1] ?? 0) < 15) why = `pg_basebackup ${version} cannot ask the server to compress (15 and later can)`;
  else {
    try {
      const server = await identifyServer(resource.connection);
      if (server.versionNum >= 150_000) return await startServerCompressedSource(resource, backupId, server, version);
      why = `PostgreSQL ${server.versionNum} cannot compress a base backup (15 and later can)`;
    } catch (error) {
      if (!(error instanceof SourceError)) throw error;
      why = error.message;
    }
  }
  return startServiceCompressedSource(resource, backupId, why);
};

/** `IDENTIFY_SYSTEM` and the server's version over a replication connection (what pg_basebackup is allowed). */
export const identifyServer = async (connection: string): Promise<ServerIdentity> => {
  const client = new Client({ ...clientConfigFor(connection), replication: 'true', connectionTimeoutMillis: 10_000 } as ConstructorParameters<typeof Client>[0]);
  client.on('error', () => undefined);
  try {
    await client.connect();
    const system = (await client.query<{ systemid: string; timeline: number }>('IDENTIFY_SYSTEM')).rows[0]!;
    const version = (await client.query<{ server_version_num: string }>('SHOW server_version_num')).rows[0]!;
    return { systemIdentifier: String(system.systemid), timeline: Number(system.timeline), versionNum: Number(version.server_version_num) };
  } catch (error) {
    throw new SourceError(`cannot identify the cluster over a replication connection: ${(error as Error).message}`);
  } finally {
    await client.end().catch(() => undefined);
  }
};

/** A tar holding `backup_manifest` alone, with its end marker (what follows the server's tar in the artifact). */
export const manifestTar = (manifest: Buffer, mtime: Date): Buffer => {
  const header = new Header({ path: 'backup_manifest', mode: 0o600, size: manifest.length, mtime, type: 'File', uid: 0, gid: 0 });
  header.encode();
  const padding = (512 - (manifest.length % 512)) % 512;
  return Buffer.concat([header.block!, manifest, Buffer.alloc(padding + 1024)]);
};

const SPOOL_POLL_MS = 20;
const READ_BYTES = 1 << 20;
const MANIFEST_MAX_BYTES = 1 << 30;

/**
 * PostgreSQL 15+ compresses: `pg_basebackup --compress=server-zstd` writes the server's
 * `base.tar.zst` into a private folder (PostgreSQL puts the manifest into a compressed tar only
 * with a folder), and this source reads that file as it grows, passing the stored bytes through
 * untouched: the walsender reads and compresses each file once, and only the compressed bytes
 * cross the socket, a file and this process (decision 0044). Once pg_basebackup exited, its
 * `backup_manifest` follows as a second tar in a zstd frame of its own, so the artifact is one
 * zstd stream of two concatenated tars (extracted with `--ignore-zeros`, as every reader here
 * does). The folder holds at most the compressed backup and is removed when the run ends.
 */
export const startServerCompressedSource = async (resource: PostgresResourceConfig, backupId: string, server: ServerIdentity, version: string): Promise<SourceRun> => {
  const spool = await mkdtemp(join(tmpdir(), 'continuity-basebackup-'));
  const out = join(spool, 'out');
  const invocation = pgToolInvocation(resource.connection, serverCompressedBasebackupArgs(backupId, out, ZSTD_LEVEL), { ...process.env, PGCONNECT_TIMEOUT: process.env.PGCONNECT_TIMEOUT ?? '10' });
  let child: ReturnType<typeof spawn>;
  try {
    child = spawn('pg_basebackup', invocation.args, { stdio: ['ignore', 'ignore', 'pipe'], env: invocation.env });
  } catch (error) {
    await rm(spool, { recursive: true, force: true });
    throw error;
  }
  const { exited, stderr } = exitOf(child);
  let failure: Error | null = null;
  let exitedNow = false;
  exited.catch((error: Error) => (failure ??= error)).finally(() => (exitedNow = true));
  const stop = () => {
    if (child.exitCode === null && child.signalCode === null) child.kill('SIGTERM');
  };
  // The folder holds a copy of the cluster: it goes once pg_basebackup can no longer write into
  // it, whether the run ends, fails or is cancelled before a byte was read.
  let removed: Promise<void> | null = null;
  const removeSpool = () =>
    (removed ??= (async () => {
      await exited.catch(() => undefined);
      await rm(spool, { recursive: true, force: true });
    })());
  let info: BaseBackupInfo | null = null;
  const cancelled = new AbortController();
  const archive = join(out, 'base.tar.zst');

  const openArchive = async (): Promise<FileHandle | null> => {
    for (;;) {
      if (cancelled.signal.aborted) return null;
      const sawExit = exitedNow;
      try {
        return await open(archive, 'r');
      } catch (error) {
        if ((error as NodeJS.ErrnoException).code !== 'ENOENT') throw error;
      }
      if (sawExit) return null;
      await Promise.race([sleep(SPOOL_POLL_MS), exited.catch(() => undefined)]);
    }
  };

  async function* frames(): AsyncGenerator<Buffer> {
    let file: FileHandle | null = null;
    let complete = false;
    try {
      file = await openArchive();
      if (file) {
        for (;;) {
          if (cancelled.signal.aborted) return;
          // Read to the end, then look whether pg_basebackup is done: bytes it wrote before it
          // exited are in the file by then, so an exit seen before a read of 0 bytes means the end.
          const sawExit = exitedNow;
          const buffer = Buffer.allocUnsafe(READ_BYTES);
          const { bytesRead } = await file.read(buffer, 0, READ_BYTES, null);
          if (bytesRead > 0) {
            yield buffer.subarray(0, bytesRead);
            continue;
          }
          if (sawExit) break;
          await Promise.race([sleep(SPOOL_POLL_MS), exited.catch(() => undefined)]);
        }
      }
      await exited;
      if (!file) throw new SourceError(`pg_basebackup exited without writing base.tar.zst: ${stderr() || 'no message'}`);
      const written = (await readdir(out)).sort();
      const extra = written.filter((name) => name !== 'base.tar.zst' && name !== 'backup_manifest');
      if (extra.length) throw new SourceError(`pg_basebackup wrote ${extra.join(', ')} besides base.tar.zst: a cluster with tablespaces outside its data directory is not supported`);
      const manifestPath = join(out, 'backup_manifest');
      const size = (await stat(manifestPath).catch(() => null))?.size;
      if (size === undefined) throw new SourceError('pg_basebackup wrote no backup_manifest');
      if (size > MANIFEST_MAX_BYTES) throw new SourceError(`backup_manifest is ${size} bytes, more than ${MANIFEST_MAX_BYTES}`);
      const manifest = await readFile(manifestPath);
      // The identity was asked on a connection of its own: the same cluster must answer after the
      // backup (a connection string naming several hosts, or a failover in between, could reach another).
      const after = await identifyServer(resource.connection);
      if (after.systemIdentifier !== server.systemIdentifier) {
        throw new SourceError(`the connection reached cluster ${after.systemIdentifier} after the backup and ${server.systemIdentifier} before it: which one was backed up is not known`);
      }
      try {
        info = { ...infoFromManifest(manifest.toString('utf8'), server, backupLabelFor(backupId)), backupManifestSha256: createHash('sha256').update(manifest).digest('hex') };
      } catch (error) {
        throw new SourceError(`pg_basebackup's manifest: ${(error as Error).message}`);
      }
      yield await new Encoder(ZSTD_LEVEL).encode(manifestTar(manifest, new Date()));
      complete = true;
    } finally {
      await file?.close().catch(() => undefined);
      if (!complete) stop(); // the reader stopped early: the backup is not wanted any more
      await removeSpool().catch(() => undefined);
    }
  }

  const stream = Readable.from(frames(), { objectMode: false });
  let finished: Promise<void> | null = null;
  let endSeen = false;
  const ended = new Promise<void>((resolve, reject) => {
    stream.once('end', () => {
      endSeen = true;
      resolve();
    });
    stream.once('error', reject);
    stream.once('close', () => (endSeen ? resolve() : reject(failure ?? new SourceError('the base backup stream closed before its end'))));
  });
  ended.catch(() => undefined);
  return baseBackupRun({
    stream,
    tools: { pg_basebackup: version, zstd: `PostgreSQL ${Math.floor(server.versionNum / 10_000)} server-side zstd level ${ZSTD_LEVEL}` },
    done: () =>
      (finished ??= (async () => {
        await exited.catch(() => undefined);
        if (failure) throw failure;
        await ended;
        if (!info) throw new SourceError('the base backup ended without its manifest');
        await removeSpool();
      })()),
    cancel: () => {
      failure ??= new SourceError('cancelled');
      cancelled.abort();
      stop();
      stream.destroy();
      void removeSpool().catch(() => undefined);
    },
  }, () => info);
};

/**
 * A physical base backup compressed by this service: `pg_basebackup` writes one tar to stdout (data
 * files, the WAL that makes them consistent, `backup_label`, `backup_manifest`), read once through
 * a FIFO straight into reused 4 MiB frame buffers; the tar's headers are looked at on the way (for
 * the WAL range and identity), each frame is compressed with zstd on the thread pool, and that
 * `.tar.zst` is the artifact the one pass hashes, encrypts and fans out. Needs a connection
 * allowed to replicate (`replication` in pg_hba.conf, a role with REPLICATION).
 */
export const startServiceCompressedSource = async (resource: PostgresResourceConfig, backupId: string, whyNotServer: string | null): Promise<SourceRun> => {
  pgBasebackupVersion ??= toolVersion('pg_basebackup').catch(() => 'unknown');
  const version = await pgBasebackupVersion;
  const invocation = pgToolInvocation(resource.connection, basebackupArgs(backupId), { ...process.env, PGCONNECT_TIMEOUT: process.env.PGCONNECT_TIMEOUT ?? '10' });
  const pipe = await fifo('pg_basebackup');
  let child: ReturnType<typeof spawn>;
  try {
    child = spawn('pg_basebackup', invocation.args, { stdio: ['ignore', pipe.writeFd, 'pipe'], env: invocation.env });
  } catch (error) {
    closeSync(pipe.readFd);
    throw error;
  } finally {
    closeSync(pipe.writeFd); // the child holds the only write end: its exit ends the stream
  }
  const { exited } = exitOf(child);
  let failure: Error | null = null;
  exited.catch((error: Error) => (failure ??= error));
  const members = new TarMembers(WANTED);
  // Once reading starts, the socket over the read end closes it when the stream ends or is
  // destroyed; a run cancelled before its first read closes it here.
  let reading = false;
  const frames = async function* () {
    reading = true;
    yield* zstdCompressFd(pipe.readFd, { observe: (bytes) => members.write(bytes) });
  };
  const stream = Readable.from(frames(), { objectMode: false });
  let info: BaseBackupInfo | null = null;
  let finished: Promise<void> | null = null;
  return baseBackupRun({
    stream,
    tools: {
      pg_basebackup: version,
      zstd: `@toondepauw/node-zstd ${(require('@toondepauw/node-zstd/package.json') as { version: string }).version} level ${ZSTD_LEVEL} in the backup service${whyNotServer ? ` (not on the server: ${whyNotServer})` : ''}`,
    },
    done: () =>
      (finished ??= (async () => {
        await exited.catch(() => undefined);
        if (failure) throw failure;
        try {
          members.end();
          info = describe(members.found, backupId);
        } catch (error) {
          throw new SourceError(`pg_basebackup's tar: ${(error as Error).message}`);
        }
      })()),
    cancel: () => {
      failure ??= new SourceError('cancelled');
      if (child.exitCode === null && child.signalCode === null) child.kill('SIGTERM');
      if (!reading) {
        reading = true;
        closeSync(pipe.readFd);
      }
      stream.destroy();
    },
  }, () => info);
};
