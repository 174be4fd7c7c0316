import type { Readable } from 'node:stream';
import type { ArtifactKey, Digest } from '@continuity/artifacts';

export interface CleanupResult {
  location: string;
  uri: string;
  /** True when nothing of this copy (temp file, partial object, manifest) is left. */
  removed: boolean;
  error: string | null;
}

/**
 * One copy being written. The runner writes every chunk to every copy (awaiting the slowest:
 * back-pressure), then `finish`es all of them (durable under a temporary name), then `commit`s
 * all of them (final name + manifest). Any failure before the last commit aborts every copy.
 */
export interface CopyWriter {
  readonly location: string;
  readonly uri: string;
  readonly manifestUri: string;
  /** Resolves when the chunk is accepted; rejects when the copy failed. */
  write(chunk: Buffer): Promise<void>;
  /** All bytes written: make them durable under the temporary name and check what was stored. */
  finish(expected: Digest): Promise<void>;
  /** Move to the final name, then write the manifest (itself atomically). */
  commit(manifest: Buffer): Promise<void>;
  /** Remove everything this copy created, committed or not. Never throws. */
  abort(reason?: Error): Promise<CleanupResult>;
}

export interface BackupLocation {
  readonly name: string;
  readonly site: string;
  readonly medium: string;
  readonly kind: 'filesystem' | 'object-store';
  uriOf(key: ArtifactKey): string;
  manifestUriOf(key: ArtifactKey): string;
  begin(key: ArtifactKey): Promise<CopyWriter>;
  /** The stored bytes of a committed copy; rejects when it is missing. */
  read(key: ArtifactKey): Promise<Readable>;
  readManifest(key: ArtifactKey): Promise<Buffer | null>;
  /**
   * The manifests this location holds for `resource`, as paths under the resource
   * (`<backupId>.manifest.json`, `wal/<timeline>/<name>.manifest.json`): how a restore finds
   * backups and WAL without the catalogue.
   */
  listManifests(resource: string): Promise<string[]>;
  /** Deletes a committed copy and its manifest (retention); `deleted` false when it could not. */
  remove(key: ArtifactKey): Promise<{ deleted: boolean; error: string | null }>;
  close(): Promise<void>;
}

export class LocationError extends Error {
  override readonly name = 'LocationError';
  constructor(
    readonly location: string,
    message: string,
    options?: { cause?: unknown },
  ) {
    super(`${location}: ${message}`, options);
  }
}
