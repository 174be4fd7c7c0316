/**
 * The artifact model. A backup is one artifact (a pg_dump archive, a tar stream; later a base
 * backup or a WAL segment) stored as identical copies in several locations, each copy with a
 * manifest beside it. Everything here is data: no I/O. Point-in-time recovery adds its
 * kinds here.
 */
export type ResourceKind = 'postgres' | 'directory';
export type ArtifactFormat = 'pg_dump-custom' | 'tar';

/** Where an artifact lives inside a location: `<resource>/<backupId>.<ext>`. */
export interface ArtifactKey {
  resource: string;
  backupId: string;
  /** `dump`, `tar`; `.age` is appended when encrypted. */
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
