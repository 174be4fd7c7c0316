import { z } from 'zod';
import { isWalFileName, isWalObjectName, parseManifest, WAL_PARTIAL_VERSION_PATTERN, walArtifactKey, walFileOfObject, type ArtifactKey } from '@continuity/artifacts';
import type { BackupLocation } from '../backup-run/locations/location.js';
import type { ResolvedPolicy } from '../config/backup-config.loader.js';
import type { BackupRecord } from '../catalogue/catalogue.js';
import type { ArchivedWal, BaseBackupCandidate } from './pitr-plan.policy.js';
import { chooseWalVersions } from './wal-versions.policy.js';

/**
 * What a point-in-time restore can start from, found without the backup service: base backups'
 * WAL ranges from their copies' manifests, and the archived
 * WAL from the WAL manifests every copy location holds beside each file
 * (`<resource>/wal/<timeline>/<object>.manifest.json`: name, the object's name when it is a
 * version of a partial segment, LSN range, stored and plaintext SHA-256). An object's record is
 * what most copies agree on; a file's is its finished segment, else its newest partial version
 * most of the copies holding the segment hold (`chooseWalVersions`); each copy keeps its own
 * stored hash, so a copy damaged after the fact is refused by wal-fetch and the next one used.
 */

const Sha256 = z.string().regex(/^[0-9a-f]{64}$/);
const Lsn = z.string().regex(/^[0-9A-F]{1,8}\/[0-9A-F]{1,8}$/i);
const WalManifestSchema = z.object({
  kind: z.literal('wal'),
  resource: z.string(),
  name: z.string().refine(isWalFileName),
  object: z.string().regex(WAL_PARTIAL_VERSION_PATTERN).optional(),
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

/** The WAL objects (files, and versions of partial segments) a location holds for `resource` (from its manifests' names). */
const listWal = async (location: BackupLocation, resource: string): Promise<string[]> =>
  (await location.listManifests(resource)).flatMap((entry) => {
    const match = /^wal\/[0-9A-F]{8}\/(.+)\.manifest\.json$/.exec(entry);
    return match && isWalObjectName(match[1]!) ? [match[1]!] : [];
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
  const objects = await listedAcrossCopies(policy, location, listWal, notice, 'WAL only it holds is not found');
  const perObject = new Map<string, { location: string; manifest: WalManifest }[]>();
  /** Per WAL file: the locations holding any version of it. */
  const holders = new Map<string, Set<string>>();
  for (const copy of policy.copies) {
    const loc = location(copy.name);
    if (!loc) continue;
    let unreadable = 0;
    for (const object of objects) {
      const seen = (await readWalManifest(loc, resource, object, policy.encryption !== null).catch(() => null)) ?? null;
      if (!seen) {
        unreadable++;
        continue;
      }
      // A manifest speaks for its own object only: a version's names its segment and itself.
      if ((seen.object ?? seen.name) !== object || seen.name !== walFileOfObject(object) || (seen.object !== undefined && !seen.partial) || seen.resource !== resource) continue;
      perObject.set(object, [...(perObject.get(object) ?? []), { location: copy.name, manifest: seen }]);
      holders.set(seen.name, (holders.get(seen.name) ?? new Set()).add(copy.name));
    }
    if (unreadable && unreadable === objects.size) notice(`location ${copy.name} holds none of the ${objects.size} archived WAL files of ${resource} (or cannot be read)`);
  }
  const records: ArchivedWal[] = [];
  for (const [object, seen] of perObject) {
    // The version most copies hold; a finished segment wins over a partial one, then the longer.
    const name = seen[0]!.manifest.name;
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
      ...(object !== name ? { object } : {}),
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
  const choice = chooseWalVersions(records, { locationsHolding: new Map([...holders].map(([name, locations]) => [name, locations.size])), recorded });
  for (const p of choice.passedOver) notice(`WAL file ${p.name}: version ${p.object} not used: ${p.reason}`);
  return choice.files;
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
