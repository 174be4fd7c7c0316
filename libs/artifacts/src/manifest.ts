import { createHash } from 'node:crypto';
import { z } from 'zod';
import { Sha256Schema } from '@continuity/contracts';
import type { ArtifactFormat, BaseBackupInfo, Digest, FileIndexEntry, ResourceKind, TableRowCount } from './artifact.js';

/**
 * The manifest written beside every copy of a backup (`continuity-backup-manifest/v1`): the
 * contract between the service that writes artifacts and those that read them back. The writer
 * fills `ArtifactManifest`; a reader checks what it relies on with `ManifestSchema` and ignores
 * the rest, so the writer may add fields freely. Platform services that make their own backups
 * may write manifests too: the schema is what they must give.
 *
 * `tables`: a PostgreSQL backup records every table the dump holds with its rows (counted in the
 * dump's own snapshot, sorted by schema and name; `rows: null` for a partitioned table, whose leaf
 * partitions are listed with theirs); a restore test checks each is restored with exactly those
 * rows — a table's own rows, as pg_dump dumps them (`count(*) FROM ONLY`, not including
 * inheritance children; all partitions' for a partitioned table). Without `tables` (directories,
 * older or external manifests) a restore test takes the table list from the dump's table of
 * contents and checks no row counts.
 */
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
  /** How the plaintext is compressed (`basebackup`: zstd); absent or null when it is not. */
  compression?: { format: 'zstd'; level: number } | null;
  /** Base backups: WAL range, timeline, label, server version and identity. Absent for other kinds. */
  basebackup?: BaseBackupInfo | null;
}

/** What the writer knows before the artifact is stored (the backup run's plan). */
export type ManifestPlan = Pick<ArtifactManifest, 'backupId' | 'resource' | 'resourceKind' | 'policy' | 'method' | 'recoveryPoint' | 'startedAt' | 'encryption' | 'threeTwoOne'>;

/** What a source learns about its artifact while producing it: the manifest's content beyond hashes and copies. */
export interface ArtifactIndex {
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
}

/** The manifest every copy carries (pure: tool versions, the runtime's included, are passed in). */
export const buildManifest = (
  plan: ManifestPlan,
  input: ArtifactIndex & {
    finishedAt: string;
    stored: Digest;
    plaintext: Digest;
    tools: Record<string, string>;
    copies: { location: string; site: string; medium: string; uri: string }[];
  },
): ArtifactManifest => ({
  format: MANIFEST_FORMAT,
  backupId: plan.backupId,
  resource: plan.resource,
  resourceKind: plan.resourceKind,
  policy: plan.policy,
  method: plan.method,
  recoveryPoint: plan.recoveryPoint,
  startedAt: plan.startedAt,
  finishedAt: input.finishedAt,
  stored: input.stored,
  plaintext: input.plaintext,
  encryption: plan.encryption,
  threeTwoOne: plan.threeTwoOne,
  tools: input.tools,
  copies: input.copies,
  files: input.files,
  skipped: input.skipped,
  tables: input.tables ?? null,
  ...(input.tablesNotRecorded ? { tablesNotRecorded: input.tablesNotRecorded } : {}),
  ...(input.compression ? { compression: input.compression } : {}),
  ...(input.basebackup ? { basebackup: input.basebackup } : {}),
});

export class ManifestError extends Error {
  override readonly name = 'ManifestError';
  readonly code = 'ARTIFACT.MANIFEST_INVALID';
}

/** A manifest the writer wrote itself, read back (a restore): only its format is checked. */
export const parseManifest = (bytes: Buffer): ArtifactManifest => {
  const manifest = JSON.parse(bytes.toString('utf8')) as ArtifactManifest;
  if (manifest.format !== MANIFEST_FORMAT) throw new ManifestError(`not a continuity backup manifest (format ${JSON.stringify(manifest.format)})`);
  return manifest;
};

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

/** PostgreSQL's `X/Y` notation of a WAL position (two hexadecimal 32-bit halves). */
export const LsnSchema = z.string().regex(/^[0-9A-F]{1,8}\/[0-9A-F]{1,8}$/i, 'must be a WAL position such as 0/2000028');

export const BaseBackupInfoSchema = z.object({
  startLsn: LsnSchema,
  endLsn: LsnSchema,
  timeline: z.int().positive(),
  label: z.string(),
  pgVersion: z.string().min(1),
  systemIdentifier: z.string().regex(/^\d+$/, 'must be a decimal number'),
  backupManifestSha256: Sha256Schema,
});

/** What a reader relies on; everything else in a manifest is ignored. */
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
  compression: z.object({ format: z.literal('zstd'), level: z.int() }).nullable().optional(),
  /** Base backups: what point-in-time recovery needs (see `BaseBackupInfo`); absent in older manifests. */
  basebackup: BaseBackupInfoSchema.nullable().optional(),
});

/** A manifest as a reader sees it (external writers may leave out what ours always write). */
export type Manifest = z.infer<typeof ManifestSchema>;
/** An entry of a manifest's file index as a reader sees it (`mtime` may be absent). */
export type IndexedFile = z.infer<typeof FileIndexEntrySchema>;

// What the writer writes must pass what readers check: a field renamed on one side fails the build.
const writtenManifestIsReadable = (manifest: ArtifactManifest): z.input<typeof ManifestSchema> => manifest;
void writtenManifestIsReadable;

export interface CheckedManifest {
  manifest: Manifest;
  /** SHA-256 of the manifest's bytes: every copy's manifest should be the same document. */
  sha256: string;
}

/** A manifest of any writer, checked against `ManifestSchema`; `ManifestError` names every bad field. */
export const readManifest = (bytes: Buffer): CheckedManifest => {
  let json: unknown;
  try {
    json = JSON.parse(bytes.toString('utf8'));
  } catch (error) {
    // Where, never what: V8's message quotes the text around the error, and a manifest's bytes are not ours to publish.
    const position = /position (\d+)/.exec((error as Error).message)?.[1];
    throw new ManifestError(`is not JSON${position === undefined ? '' : ` (syntax error at byte ${position} of ${bytes.length})`}`);
  }
  const result = ManifestSchema.safeParse(json);
  if (!result.success) {
    throw new ManifestError(`is not a valid continuity backup manifest: ${result.error.issues.map((i) => `${i.path.join('.') || '(root)'}: ${i.message}`).join('; ')}`);
  }
  return { manifest: result.data, sha256: createHash('sha256').update(bytes).digest('hex') };
};

/** What a manifest says against what the BackupCreated event says; every disagreement, in words. */
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
