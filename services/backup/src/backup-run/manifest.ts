import { ArtifactManifest, Digest, FileIndexEntry, MANIFEST_FORMAT, TableRowCount } from './artifact.js';
import type { RunPlan } from './backup-run.decider.js';

/** The manifest every copy carries (pure). */
export const buildManifest = (
  plan: RunPlan,
  input: {
    finishedAt: string;
    stored: Digest;
    plaintext: Digest;
    tools: Record<string, string>;
    copies: { location: string; site: string; medium: string; uri: string }[];
    files: FileIndexEntry[] | null;
    skipped: { path: string; reason: string }[];
    /** PostgreSQL: the tables and their row counts (null for directories). */
    tables?: TableRowCount[] | null;
    tablesNotRecorded?: string | null;
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
  tools: { node: process.versions.node, ...input.tools },
  copies: input.copies,
  files: input.files,
  skipped: input.skipped,
  tables: input.tables ?? null,
  ...(input.tablesNotRecorded ? { tablesNotRecorded: input.tablesNotRecorded } : {}),
});

export const parseManifest = (bytes: Buffer): ArtifactManifest => {
  const manifest = JSON.parse(bytes.toString('utf8')) as ArtifactManifest;
  if (manifest.format !== MANIFEST_FORMAT) throw new Error(`not a continuity backup manifest (format ${JSON.stringify(manifest.format)})`);
  return manifest;
};
