import type { Readable } from 'node:stream';
import type { ArtifactFormat, ArtifactManifest, BaseBackupInfo, FileIndexEntry, ResourceKind, TableRowCount } from '@continuity/artifacts';

/** A running source: the artifact's bytes, read once. */
export interface SourceRun {
  kind: ResourceKind;
  method: ArtifactFormat;
  extension: string;
  stream: Readable;
  /** Best guess of the plaintext size, for progress; null when unknown. */
  expectedBytes: number | null;
  tools: Record<string, string>;
  /** Sees every plaintext chunk (e.g. to index a tar stream). */
  observe?: (chunk: Buffer) => void;
  /** Resolves when the producer finished cleanly (exit code 0, archive closed); rejects with why not. */
  done(): Promise<void>;
  /** Extra manifest content, available after `done`. */
  index(): {
    files: FileIndexEntry[] | null;
    skipped: { path: string; reason: string }[];
    /** PostgreSQL: every table with its row count in the dump's snapshot; null when not recorded. */
    tables?: TableRowCount[] | null;
    /** Why `tables` is null for a PostgreSQL backup. */
    tablesNotRecorded?: string | null;
    /** How the stream is compressed (base backups: zstd). */
    compression?: ArtifactManifest['compression'];
    /** Base backups: WAL range, timeline, label, identity (for the manifest and BackupCreated). */
    basebackup?: BaseBackupInfo | null;
  };
  /** Stops the producer (the backup failed elsewhere). */
  cancel(): void;
}

export class SourceError extends Error {
  override readonly name = 'SourceError';
  readonly code = 'BACKUP.SOURCE_FAILED';
}
