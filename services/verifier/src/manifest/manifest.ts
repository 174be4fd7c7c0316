import { createHash } from 'node:crypto';
import { z } from 'zod';
import { Sha256Schema } from '@continuity/contracts';

/**
 * The manifest the backup service writes beside every copy (`continuity-backup-manifest/v1`, see
 * services/backup/src/backup-run/artifact.ts). The verifier reads only what it checks and ignores
 * the rest, so the backup service may add fields freely. `tables`: a PostgreSQL backup records every
 * table the dump holds with its rows (counted in the dump's own snapshot, sorted by schema and
 * name; `rows: null` for a partitioned table, whose leaf partitions are listed with theirs); the
 * restore test checks each is restored with exactly those rows — a table's own rows, as pg_dump
 * dumps them (`count(*) FROM ONLY`, not including inheritance children; all partitions' for a
 * partitioned table). Without `tables` (directories, older or external manifests) the restore test
 * takes the table list from the dump's table of contents and checks no row counts.
 */
export const MANIFEST_FORMAT = 'continuity-backup-manifest/v1';

const DigestSchema = z.object({ sha256: Sha256Schema, sizeBytes: z.int().nonnegative() });

export const FileIndexEntrySchema = z.object({
  path: z.string().min(1),
  type: z.enum(['file', 'directory', 'symlink', 'hardlink']),
  size: z.int().nonnegative(),
  mode: z.int().nonnegative(),
  mtime: z.string().optional(),
  sha256: Sha256Schema.nullable(),
  linkTarget: z.string().nullable(),
});

export const TableCountSchema = z.object({ schema: z.string().min(1), name: z.string().min(1), rows: z.int().nonnegative().nullable() });

export const ManifestSchema = z.object({
  format: z.literal(MANIFEST_FORMAT, { error: `must be "${MANIFEST_FORMAT}"` }),
  backupId: z.uuid(),
  resource: z.string().min(1),
  resourceKind: z.string().min(1),
  method: z.string().min(1),
  recoveryPoint: z.string().optional(),
  stored: DigestSchema,
  plaintext: DigestSchema.nullable().optional(),
  encryption: z.object({ format: z.literal('age'), recipients: z.array(z.string()) }).nullable().optional(),
  files: z.array(FileIndexEntrySchema).nullable().optional(),
  /** PostgreSQL: the tables the dump holds and their row counts (see above). */
  tables: z.array(TableCountSchema).nullable().optional(),
});

export type Manifest = z.infer<typeof ManifestSchema>;
export type FileIndexEntry = z.infer<typeof FileIndexEntrySchema>;
export type TableCount = z.infer<typeof TableCountSchema>;

export class ManifestError extends Error {
  override readonly name = 'ManifestError';
  readonly code = 'VERIFY.MANIFEST_INVALID';
}

export interface ParsedManifest {
  manifest: Manifest;
  /** SHA-256 of the manifest's bytes: every copy's manifest should be the same document. */
  sha256: string;
}

export const parseManifest = (bytes: Buffer): ParsedManifest => {
  let json: unknown;
  try {
    json = JSON.parse(bytes.toString('utf8'));
  } catch (error) {
    throw new ManifestError(`is not JSON: ${(error as Error).message}`);
  }
  const result = ManifestSchema.safeParse(json);
  if (!result.success) {
    throw new ManifestError(`is not a valid continuity backup manifest: ${result.error.issues.map((i) => `${i.path.join('.') || '(root)'}: ${i.message}`).join('; ')}`);
  }
  return { manifest: result.data, sha256: createHash('sha256').update(bytes).digest('hex') };
};

/** What a manifest says against what the event says; every disagreement, in words. */
export const manifestDisagreements = (
  manifest: Manifest,
  event: { backupId: string; sha256: string; sizeBytes: number; plaintext: { sha256: string; sizeBytes: number } | null },
): string[] => {
  const out: string[] = [];
  if (manifest.backupId !== event.backupId) out.push(`names backup ${manifest.backupId}, not ${event.backupId}`);
  if (manifest.stored.sha256 !== event.sha256 || manifest.stored.sizeBytes !== event.sizeBytes) {
    out.push(`records ${manifest.stored.sizeBytes} bytes with SHA-256 ${manifest.stored.sha256}; the event says ${event.sizeBytes} bytes with ${event.sha256}`);
  }
  if (event.plaintext && manifest.plaintext && (manifest.plaintext.sha256 !== event.plaintext.sha256 || manifest.plaintext.sizeBytes !== event.plaintext.sizeBytes)) {
    out.push(`records plaintext SHA-256 ${manifest.plaintext.sha256}; the event says ${event.plaintext.sha256}`);
  }
  return out;
};
