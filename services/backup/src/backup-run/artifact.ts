/**
 * The artifact model. A backup is one artifact (a pg_dump archive, a tar stream; later a base
 * backup or a WAL segment) stored as identical copies in several locations, each copy with a
 * manifest beside it. Everything here is data: no I/O.
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

export const MANIFEST_FORMAT = 'continuity-backup-manifest/v1';

/** Written beside every copy, so a copy can be understood (and restored) on its own. */
export interface ArtifactManifest {
  format: typeof MANIFEST_FORMAT;
  backupId: string;
  resource: string;
  resourceKind: ResourceKind;
  policy: string;
  method: ArtifactFormat;
  /** The moment whose data the artifact holds. */
  recoveryPoint: string;
  startedAt: string;
  finishedAt: string;
  /** The bytes as stored (encrypted when `encryption` is set): what anyone can verify. */
  stored: Digest;
  /** The artifact before encryption. */
  plaintext: Digest;
  encryption: { format: 'age'; recipients: string[] } | null;
  threeTwoOne: { compliant: boolean; resourceSite: string; failedRules: string[]; optOut: string | null };
  tools: Record<string, string>;
  /** Every copy of this backup, so one copy leads to the others. */
  copies: { location: string; site: string; medium: string; uri: string }[];
  /** Directories only: every entry of the tar stream. */
  files: FileIndexEntry[] | null;
  /** Directories only: entries that were not backed up and why (sockets, FIFOs, devices). */
  skipped: { path: string; reason: string }[];
  /**
   * PostgreSQL: every table the dump holds with its exact row count, sorted by schema and name;
   * null for directories, or when they could not be counted (`tablesNotRecorded` says why).
   * Absent from manifests written before tables were recorded.
   */
  tables?: TableRowCount[] | null;
  /** Why a PostgreSQL backup records no `tables` (the counting session could not be opened). */
  tablesNotRecorded?: string;
}
