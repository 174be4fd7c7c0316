/**
 * The artifact model. A backup is one artifact (a pg_dump archive, a tar stream; later a base
 * backup or a WAL segment) stored as identical copies in several locations, each copy with a
 * manifest beside it. Everything here is data (the zstd codec aside): no I/O. Point-in-time
 * recovery adds its kinds here.
 */
export type ResourceKind = 'postgres' | 'directory';
/**
 * `basebackup`: a physical copy of a whole PostgreSQL cluster, `pg_basebackup`'s tar (data files,
 * the WAL needed to make it consistent, its `backup_label` and `backup_manifest`) compressed with
 * zstd: `<backupId>.tar.zst[.age]`.
 */
export type ArtifactFormat = 'pg_dump-custom' | 'tar' | 'basebackup';

/** The file extension (before `.age`) of each format. */
export const ARTIFACT_EXTENSIONS: Record<ArtifactFormat, string> = { 'pg_dump-custom': 'dump', tar: 'tar', basebackup: 'tar.zst' };

/**
 * What a base backup needs for point-in-time recovery: the WAL range that makes it consistent
 * (replay from `startLsn` on `timeline` to at least `endLsn`), read from its `backup_label` and
 * `backup_manifest` (`WAL-Ranges`); the label it was taken with; the server's major version and
 * system identifier (WAL of another cluster never applies to it).
 */
export interface BaseBackupInfo {
  startLsn: string;
  endLsn: string;
  timeline: number;
  label: string;
  pgVersion: string;
  /** The cluster's system identifier (pg_control's; the server's IDENTIFY_SYSTEM for a server-compressed backup), as a decimal string (a 64-bit number). */
  systemIdentifier: string;
  /** SHA-256 of the `backup_manifest` inside the tar (what `pg_verifybackup` checks the files against). */
  backupManifestSha256: string;
}

/** Where an artifact lives inside a location: `<resource>/<backupId>.<ext>`. */
export interface ArtifactKey {
  resource: string;
  backupId: string;
  /** `dump`, `tar`, `tar.zst`; `.age` is appended when encrypted. */
  extension: string;
}

export const artifactPath = (key: ArtifactKey) => `${key.resource}/${key.backupId}.${key.extension}`;
export const manifestPath = (key: ArtifactKey) => `${key.resource}/${key.backupId}.manifest.json`;

export interface FileIndexEntry {
  path: string;
  type: 'file' | 'directory' | 'symlink' | 'hardlink';
  size: number;
  /** Permission bits, e.g. 0o640 as 416. */
  mode: number;
  mtime: string;
  /** SHA-256 of the file's contents (files only). */
  sha256: string | null;
  /** Target of a symlink or hard link. */
  linkTarget: string | null;
}

/**
 * PostgreSQL: one table the dump holds and its rows, counted in the dump's own snapshot (the
 * verifier checks them after its test restore). `rows` is null for a partitioned table: its rows
 * are its leaf partitions', each listed with its own count.
 */
export interface TableRowCount {
  schema: string;
  name: string;
  rows: number | null;
}

export interface Digest {
  sha256: string;
  sizeBytes: number;
}

/** A WAL position (`X/Y`, PostgreSQL's pg_lsn text) as a number, to compare positions. */
export const lsnValue = (lsn: string): bigint => {
  const match = /^([0-9A-F]{1,8})\/([0-9A-F]{1,8})$/i.exec(lsn);
  if (!match) throw new Error(`"${lsn}" is not a WAL position (X/Y)`);
  return (BigInt(`0x${match[1]}`) << 32n) | BigInt(`0x${match[2]}`);
};

/**
 * WAL archive files: each WAL segment (24 hex digits: timeline, log, segment) or timeline history
 * file (`<timeline>.history`) compressed with zstd on its own (`.zst`, then `.age` when
 * encrypted), under `<resource>/wal/<timeline>/`: a restore's `restore_command` finds a file by
 * the name PostgreSQL asks for, and a timeline's files list together.
 */
export const WAL_SEGMENT_PATTERN = /^[0-9A-F]{24}$/;
export const WAL_HISTORY_PATTERN = /^[0-9A-F]{8}\.history$/;
/** Bytes per WAL segment: PostgreSQL's default (`--wal-segsize` of initdb), which the archive assumes. */
export const WAL_SEGMENT_BYTES = 16 * 1024 * 1024;

export interface WalFileFacts {
  kind: 'segment' | 'history';
  timeline: number;
  /** Segments only: the first position the segment holds and the position just after it. */
  startLsn: string;
  endLsn: string;
}

const hexLsn = (value: bigint) => `${(value >> 32n).toString(16).toUpperCase()}/${(value & 0xffffffffn).toString(16).toUpperCase()}`;

/** What a WAL file's name says (a history file's LSNs are 0/0: its contents say where the timeline began). */
export const walFileFacts = (name: string, segmentBytes = WAL_SEGMENT_BYTES): WalFileFacts => {
  if (WAL_HISTORY_PATTERN.test(name)) return { kind: 'history', timeline: parseInt(name.slice(0, 8), 16), startLsn: '0/0', endLsn: '0/0' };
  if (!WAL_SEGMENT_PATTERN.test(name)) throw new Error(`"${name}" is not a WAL segment or history file name`);
  const timeline = parseInt(name.slice(0, 8), 16);
  const log = BigInt(`0x${name.slice(8, 16)}`);
  const seg = BigInt(`0x${name.slice(16, 24)}`);
  const perLog = 0x1_0000_0000n / BigInt(segmentBytes);
  const start = (log * perLog + seg) * BigInt(segmentBytes);
  return { kind: 'segment', timeline, startLsn: hexLsn(start), endLsn: hexLsn(start + BigInt(segmentBytes)) };
};

/** The key of a WAL file in a location: `<resource>/wal/<timeline>/<name>.zst[.age]`. */
export const walArtifactKey = (resource: string, name: string, encrypted: boolean): ArtifactKey => ({
  resource,
  backupId: `wal/${name.slice(0, 8)}/${name}`,
  extension: `zst${encrypted ? '.age' : ''}`,
});
