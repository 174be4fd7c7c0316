/**
 * What a base backup says about itself, read from the files `pg_basebackup` puts in its tar
 * (pure). `backup_label` gives where replay starts and on which timeline; `backup_manifest`'s
 * `WAL-Ranges` gives the position replay must reach for the copy to be consistent (the server's
 * own stop position, exact — not a `pg_current_wal_lsn()` sampled around the backup); `PG_VERSION`
 * the major version; `global/pg_control` starts with the cluster's 64-bit system identifier.
 */

export class BaseBackupFormatError extends Error {
  override readonly name = 'BaseBackupFormatError';
  readonly code = 'BACKUP.BASEBACKUP_INVALID';
}

export interface BackupLabel {
  startLsn: string;
  timeline: number;
  label: string;
}

const LSN = /^[0-9A-F]{1,8}\/[0-9A-F]{1,8}$/i;

/** `START WAL LOCATION: 0/2000028 (file …)`, `START TIMELINE: 1`, `LABEL: …`. */
export const parseBackupLabel = (text: string): BackupLabel => {
  const field = (name: string) => new RegExp(`^${name}: (.*)$`, 'm').exec(text)?.[1]?.trim();
  const startLsn = field('START WAL LOCATION')?.split(' ')[0];
  const timeline = Number(field('START TIMELINE'));
  const label = field('LABEL');
  if (!startLsn || !LSN.test(startLsn)) throw new BaseBackupFormatError('backup_label has no START WAL LOCATION');
  if (!Number.isInteger(timeline) || timeline < 1) throw new BaseBackupFormatError('backup_label has no START TIMELINE');
  if (label === undefined) throw new BaseBackupFormatError('backup_label has no LABEL');
  return { startLsn, timeline, label };
};

export interface WalRange {
  timeline: number;
  startLsn: string;
  endLsn: string;
}

/** The `WAL-Ranges` of a backup manifest (one per timeline the backup spans, oldest first). */
export const walRangesOf = (manifestText: string): WalRange[] => {
  let manifest: { 'WAL-Ranges'?: { Timeline?: unknown; 'Start-LSN'?: unknown; 'End-LSN'?: unknown }[] };
  try {
    manifest = JSON.parse(manifestText) as typeof manifest;
  } catch {
    throw new BaseBackupFormatError('backup_manifest is not JSON');
  }
  const ranges = (manifest['WAL-Ranges'] ?? []).map((r) => ({ timeline: Number(r.Timeline), startLsn: String(r['Start-LSN']), endLsn: String(r['End-LSN']) }));
  if (!ranges.length || ranges.some((r) => !Number.isInteger(r.timeline) || !LSN.test(r.startLsn) || !LSN.test(r.endLsn))) {
    throw new BaseBackupFormatError('backup_manifest has no valid WAL-Ranges');
  }
  return ranges;
};

/** pg_control's first field, `uint64 system_identifier`, in the machine's byte order (little-endian here). */
export const systemIdentifierOf = (pgControl: Buffer): string => {
  if (pgControl.length < 8) throw new BaseBackupFormatError('global/pg_control is shorter than 8 bytes');
  return pgControl.readBigUInt64LE(0).toString();
};

/** The label the backup is taken with: names the backup it belongs to in the server's logs and in `backup_label`. */
export const backupLabelFor = (backupId: string) => `continuity-${backupId}`;

/**
 * `pg_basebackup`'s options for one tar on stdout. `--wal-method=fetch` puts the WAL needed for
 * consistency into that tar (PostgreSQL refuses `stream` with `-D -`: it would need a second
 * output); the backup manifest, with a CRC-32C of every file, travels in the tar as
 * `backup_manifest` (the SHA-256 of the whole stored artifact is the tamper check; the per-file
 * checksums only show that an extraction wrote what the tar held, which CRC-32C does at a fifth of
 * SHA-256's cost on the server and in `pg_verifybackup`: decision 0022). The connection (and so the password) is not here: `pgToolInvocation` adds
 * it as `--dbname=` without the password, which goes in `PGPASSWORD`.
 */
export const basebackupArgs = (backupId: string): string[] => [
  '--format=tar',
  '--pgdata=-',
  '--wal-method=fetch',
  '--checkpoint=fast',
  '--manifest-checksums=CRC32C',
  `--label=${backupLabelFor(backupId)}`,
  '--no-password',
];

/**
 * `pg_basebackup`'s options when the server compresses (PostgreSQL 15+): zstd at `level` in the
 * walsender as it reads the files, written as `base.tar.zst` and `backup_manifest` into `dir` (a
 * folder that must not exist yet). PostgreSQL cannot put the manifest into a compressed tar on
 * stdout (`-D -`), hence a folder, which the source reads as it grows (decision 0044).
 */
export const serverCompressedBasebackupArgs = (backupId: string, dir: string, level: number): string[] => [
  '--format=tar',
  `--pgdata=${dir}`,
  '--wal-method=fetch',
  '--checkpoint=fast',
  '--manifest-checksums=CRC32C',
  `--compress=server-zstd:level=${level}`,
  `--label=${backupLabelFor(backupId)}`,
  '--no-password',
];

/** The cluster a replication connection reaches, as `IDENTIFY_SYSTEM` and `SHOW server_version_num` say. */
export interface ServerIdentity {
  systemIdentifier: string;
  timeline: number;
  /** e.g. 150010 */
  versionNum: number;
}

/** Checks a manifest's first WAL range against what the server said before the backup (pure). */
export const infoFromManifest = (manifestText: string, server: ServerIdentity, label: string) => {
  const ranges = walRangesOf(manifestText);
  const first = ranges[0]!;
  const last = ranges[ranges.length - 1]!;
  // A backup starts on the timeline the server was on when asked (a promotion during the backup
  // makes PostgreSQL fail it): anything else is not this server's backup.
  if (first.timeline !== server.timeline) throw new BaseBackupFormatError(`backup_manifest starts on timeline ${first.timeline}, the server was on ${server.timeline}`);
  return {
    startLsn: first.startLsn,
    endLsn: last.endLsn,
    timeline: first.timeline,
    label,
    pgVersion: String(Math.floor(server.versionNum / 10_000)),
    systemIdentifier: server.systemIdentifier,
  };
};
