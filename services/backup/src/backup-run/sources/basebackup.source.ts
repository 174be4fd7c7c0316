import { spawn } from 'node:child_process';
import { createHash } from 'node:crypto';
import { closeSync } from 'node:fs';
import { Readable } from 'node:stream';
import { ZSTD_LEVEL, zstdCompressFd, type BaseBackupInfo } from '@continuity/artifacts';
import type { PostgresResourceConfig } from '../../config/backup-config.schema.js';
import { basebackupArgs, backupLabelFor, BaseBackupFormatError, parseBackupLabel, systemIdentifierOf, walRangesOf } from './basebackup-label.js';
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

/**
 * A physical base backup of the whole cluster: `pg_basebackup` writes one tar to stdout (data
 * files, the WAL that makes them consistent, `backup_label`, `backup_manifest`), read once through
 * a FIFO straight into reused 4 MiB frame buffers; the tar's headers are looked at on the way (for
 * the WAL range and identity), each frame is compressed with zstd on the thread pool, and that
 * `.tar.zst` is the artifact the one pass hashes, encrypts and fans out. Needs a connection
 * allowed to replicate (`replication` in pg_hba.conf, a role with REPLICATION).
 */
export const startBaseBackupSource = async (resource: PostgresResourceConfig, backupId: string): Promise<SourceRun> => {
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
  let stderr = '';
  child.stderr!.on('data', (chunk: Buffer) => (stderr = (stderr + chunk.toString()).slice(-4000)));
  let failure: Error | null = null;
  const exited = new Promise<void>((resolve, reject) => {
    child.once('error', (error) => reject(new SourceError(`cannot run pg_basebackup: ${error.message} (is PostgreSQL's client on PATH?)`)));
    child.once('close', (code, signal) => {
      if (code === 0) resolve();
      else reject(new SourceError(`pg_basebackup ${signal ? `was killed by ${signal}` : `exited with ${code}`}: ${stderr.trim() || 'no message'}`));
    });
  });
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
  return {
    kind: 'postgres',
    method: 'basebackup',
    extension: 'tar.zst',
    stream,
    expectedBytes: null,
    tools: { pg_basebackup: version, zstd: `@toondepauw/node-zstd ${(require('@toondepauw/node-zstd/package.json') as { version: string }).version} level ${ZSTD_LEVEL}` },
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
    index: () => ({ files: null, skipped: [], tables: null, tablesNotRecorded: 'a base backup copies the whole cluster\'s files: no row counts', compression: { format: 'zstd', level: ZSTD_LEVEL }, basebackup: info }),
    cancel: () => {
      failure ??= new SourceError('cancelled');
      if (child.exitCode === null && child.signalCode === null) child.kill('SIGTERM');
      if (!reading) {
        reading = true;
        closeSync(pipe.readFd);
      }
      stream.destroy();
    },
  };
};
