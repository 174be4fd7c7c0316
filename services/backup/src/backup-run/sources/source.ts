import type { Readable } from 'node:stream';
import type { ArtifactFormat, ArtifactIndex, ResourceKind } from '@continuity/artifacts';

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
  index(): ArtifactIndex;
  /** Stops the producer (the backup failed elsewhere). */
  cancel(): void;
}

export class SourceError extends Error {
  override readonly name = 'SourceError';
  readonly code = 'BACKUP.SOURCE_FAILED';
}
