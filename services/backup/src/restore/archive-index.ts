import { z } from 'zod';
import { isWalFileName, parseManifest, walArtifactKey, type ArtifactKey } from '@continuity/artifacts';
import type { BackupLocation } from '../backup-run/locations/location.js';
import type { ResolvedPolicy } from '../config/backup-config.loader.js';
import type { BackupRecord } from '../catalogue/catalogue.js';
import type { ArchivedWal, BaseBackupCandidate } from './pitr-plan.policy.js';

/**
 * What a point-in-time restore can start from, found without the backup service: base backups'
 * WAL ranges from their copies' manifests, and the archived
 * WAL from the WAL manifests every copy location holds beside each file
 * (`<resource>/wal/<timeline>/<name>.manifest.json`: name, LSN range, stored and plaintext
 * SHA-256). A file's record is what most copies agree on (a finished segment over a partial
 * one); each copy keeps its own stored hash, so a copy damaged after the fact is refused by
 * wal-fetch and the next one used.
 */

const Sha256 = z.string().regex(/^[0-9a-f]{64}$/);
const Lsn = z.string().regex(/^[0-9A-F]{1,8}\/[0-9A-F]{1,8}$/i);
const WalManifestSchema = z.object({
  kind: z.literal('wal'),
  resource: z.string(),
  name: z.string().refine(isWalFileName),
  type: z.enum(['segment', 'history']),
  timeline: z.int().positive(),
  startLsn: Lsn,
  endLsn: Lsn,
  partial: z.boolean(),
  stored: z.object({ sha256: Sha256, sizeBytes: z.int().nonnegative() }),
  plaintext: z.object({ sha256: Sha256, sizeBytes: z.int().nonnegative() }),
  encryption: z.object({ format: z.literal('age') }).passthrough().nullable(),
  archivedAt: z.string(),
});
type WalManifest = z.infer<typeof WalManifestSchema>;

export interface ArchiveIndexNotice {
  (message: string): void;
}

/** WAL file names a location holds for `resource` (from its manifests' names). */
const listWal = async (location: BackupLocation, resource: string): Promise<string[]> =>
  (await location.listManifests(resource)).flatMap((entry) => {
    const match = /^wal\/[0-9A-F]{8}\/(.+)\.manifest\.json$/.exec(entry);
    return match && isWalFileName(match[1]!) ? [match[1]!] : [];
  });

/**
 * Every name `list` finds in any of the policy's copy locations: a location that cannot be listed
 * is said (`lost` names what is then not found) and the others still count.
 */
export const listedAcrossCopies = async (
  policy: ResolvedPolicy,
  location: (name: string) => BackupLocation | null,
  list: (location: BackupLocation, resource: string) => Promise<string[]>,
  notice: ArchiveIndexNotice,
  lost: string,
): Promise<Set<string>> => {
  const names = new Set<string>();
  for (const copy of policy.copies) {
    const loc = location(copy.name);
    if (!loc) continue;
    const listed = await list(loc, policy.resourceName).catch((error: Error) => {
      notice(`location ${copy.name} cannot be listed (${error.message}): ${lost}`);
      return [] as string[];
    });
    for (const name of listed) names.add(name);
  }
  return names;
};

const parseWalManifest = (bytes: Buffer | null): WalManifest | null => {
  if (!bytes) return null;
  try {
    return WalManifestSchema.parse(JSON.parse(bytes.toString('utf8')));
  } catch {
    return null;
  }
};

/**
 * Every WAL file of the policy's resource that its copy locations hold, one agreed record per
 * name. Every location is listed (a filesystem's folders, an object store's names).
 */
export const walRecordsFromCopies = async (
  policy: ResolvedPolicy,
  location: (name: string) => BackupLocation | null,
  notice: ArchiveIndexNotice,
  /** Plaintext hashes the audit ledger recorded per file: among copies that disagree, the recorded version wins. */
  recorded?: ReadonlyMap<string, ReadonlySet<string>>,
): Promise<ArchivedWal[]> => {
  const resource = policy.resourceName;
  const names = await listedAcrossCopies(policy, location, listWal, notice, 'WAL only it holds is not found');
  const perName = new Map<string, { location: string; manifest: WalManifest }[]>();
  for (const copy of policy.copies) {
    const loc = location(copy.name);
    if (!loc) continue;
    let unreadable = 0;
    for (const name of names) {
      const seen = (await readWalManifest(loc, resource, name, policy.encryption !== null).catch(() => null)) ?? null;
      if (!seen) {
        unreadable++;
        continue;
      }
      if (seen.name !== name || seen.resource !== resource) continue;
      perName.set(name, [...(perName.get(name) ?? []), { location: copy.name, manifest: seen }]);
    }
    if (unreadable && unreadable === names.size) notice(`location ${copy.name} holds none of the ${names.size} archived WAL files of ${resource} (or cannot be read)`);
  }
  const records: ArchivedWal[] = [];
  for (const [name, seen] of perName) {
    // The version most copies hold; a finished segment wins over a partial one, then the longer.
    const groups = new Map<string, typeof seen>();
    for (const s of seen) groups.set(s.manifest.plaintext.sha256, [...(groups.get(s.manifest.plaintext.sha256) ?? []), s]);
    const inLedger = (g: typeof seen) => (recorded?.get(name)?.has(g[0]!.manifest.plaintext.sha256) ? 0 : 1);
    const best = [...groups.values()].sort(
      (a, b) =>
        inLedger(a) - inLedger(b) ||
        Number(a[0]!.manifest.partial) - Number(b[0]!.manifest.partial) ||
        b.length - a.length ||
        b[0]!.manifest.plaintext.sizeBytes - a[0]!.manifest.plaintext.sizeBytes,
    )[0]!;
    const m = best[0]!.manifest;
    if (groups.size > 1 && !m.partial) notice(`copies of WAL file ${name} disagree: using the version ${best.map((s) => s.location).join(', ')} hold`);
    records.push({
      name,
      kind: m.type,
      timeline: m.timeline,
      startLsn: m.startLsn,
      endLsn: m.endLsn,
      partial: m.partial,
      plaintextSha256: m.plaintext.sha256,
      plaintextSizeBytes: m.plaintext.sizeBytes,
      archivedAt: best.map((s) => s.manifest.archivedAt).sort().pop()!,
      copies: best.map((s) => ({ location: s.location, sha256: s.manifest.stored.sha256, sizeBytes: s.manifest.stored.sizeBytes })),
    });
  }
  return records;
};

const readWalManifest = async (location: BackupLocation, resource: string, name: string, encrypted: boolean): Promise<WalManifest | null> => {
  const key: ArtifactKey = walArtifactKey(resource, name, encrypted);
  return parseWalManifest(await location.readManifest(key));
};

/** A base backup's WAL range, from the manifest of its first readable copy. */
export const baseBackupCandidate = async (record: BackupRecord, location: (name: string) => BackupLocation | null): Promise<BaseBackupCandidate | null> => {
  const key: ArtifactKey = { resource: record.resource, backupId: record.backupId, extension: record.artifactExtension };
  for (const copy of record.copies) {
    const loc = location(copy.location);
    if (!loc) continue;
    const bytes = await loc.readManifest(key).catch(() => null);
    if (!bytes) continue;
    try {
      const manifest = parseManifest(bytes);
      if (!manifest.basebackup || manifest.backupId !== record.backupId) continue;
      const { startLsn, endLsn, timeline } = manifest.basebackup;
      return { backupId: record.backupId, finishedAt: record.finishedAt ?? manifest.finishedAt, startLsn, endLsn, timeline };
    } catch {
      continue;
    }
  }
  return null;
};
