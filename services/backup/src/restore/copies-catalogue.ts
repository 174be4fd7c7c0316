import { ARTIFACT_EXTENSIONS, parseManifest, type ArtifactKey, type ArtifactManifest } from '@continuity/artifacts';
import type { BackupLocation } from '../backup-run/locations/location.js';
import type { BackupRecord, BackupState, Catalogue } from '../catalogue/catalogue.js';
import type { ResolvedPolicy } from '../config/backup-config.loader.js';
import { listedAcrossCopies } from './archive-index.js';

/**
 * The base backups of a resource as its copies' manifests describe them: the catalogue of the
 * disaster path, when the catalogue database is gone (or `--from-copies` is asked for). Every
 * copy carries a manifest beside it (`<resource>/<backupId>.manifest.json`: what it holds, its
 * stored and plaintext SHA-256, its WAL range), so the copy locations named in the configuration
 * file are enough to find and restore a base backup ([decision 0032](../../../../docs/decisions/0032-disaster-restore-from-copies-and-ledger.md)).
 *
 * Every copy location of the policy is listed (a filesystem's folder, an object store's names)
 * and asked for each backup found. A backup's record is the version most copies agree on (stored and plaintext
 * hashes): a copy whose manifest says otherwise is left out of the record (and so never
 * restored from), and said so; a backup whose copies disagree with no majority is not used. Only manifests naming this resource and their own file's backup
 * id count; the URIs inside a manifest are never followed (only configured locations are read).
 */

const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;
const SHA256 = /^[0-9a-f]{64}$/;
const MANIFEST_SUFFIX = '.manifest.json';

/** Backup ids whose manifests a location holds for `resource`. */
const listBackups = async (location: BackupLocation, resource: string): Promise<string[]> =>
  (await location.listManifests(resource))
    .filter((entry) => !entry.includes('/') && entry.endsWith(MANIFEST_SUFFIX))
    .map((entry) => entry.slice(0, -MANIFEST_SUFFIX.length))
    .filter((id) => UUID.test(id));

const usable = (m: ArtifactManifest, resource: string, backupId: string) =>
  m.backupId === backupId &&
  m.resource === resource &&
  m.method in ARTIFACT_EXTENSIONS &&
  SHA256.test(m.stored?.sha256 ?? '') &&
  Number.isInteger(m.stored?.sizeBytes) &&
  SHA256.test(m.plaintext?.sha256 ?? '') &&
  !Number.isNaN(Date.parse(m.finishedAt));

export class CopiesCatalogue implements Pick<Catalogue, 'list' | 'get'> {
  private constructor(private readonly records: BackupRecord[]) {}

  static empty(): CopiesCatalogue {
    return new CopiesCatalogue([]);
  }

  /** Every backup of the policy's resource its copy locations hold, one agreed record per backup. */
  static async load(policy: ResolvedPolicy, location: (name: string) => BackupLocation | null, notice: (message: string) => void): Promise<CopiesCatalogue> {
    const resource = policy.resourceName;
    const ids = await listedAcrossCopies(policy, location, listBackups, notice, 'backups only it holds are not found');
    const records: BackupRecord[] = [];
    for (const backupId of ids) {
      const seen: { location: BackupLocation; manifest: ArtifactManifest; key: ArtifactKey }[] = [];
      for (const copy of policy.copies) {
        const loc = location(copy.name);
        if (!loc) continue;
        // The extension is not known before the manifest is read: it only names the artifact, not the manifest.
        const probe: ArtifactKey = { resource, backupId, extension: '-' };
        const bytes = await loc.readManifest(probe).catch(() => null);
        if (!bytes) continue;
        let manifest: ArtifactManifest;
        try {
          manifest = parseManifest(bytes);
        } catch {
          notice(`location ${copy.name}: the manifest of backup ${backupId} is not readable; that copy is not used`);
          continue;
        }
        if (!usable(manifest, resource, backupId)) {
          notice(`location ${copy.name}: the manifest of backup ${backupId} names another backup or resource, or lacks its hashes; that copy is not used`);
          continue;
        }
        const extension = `${ARTIFACT_EXTENSIONS[manifest.method]}${manifest.encryption ? '.age' : ''}`;
        seen.push({ location: loc, manifest, key: { resource, backupId, extension } });
      }
      if (!seen.length) continue;
      const versionOf = (m: ArtifactManifest) => `${m.stored.sha256}:${m.stored.sizeBytes}:${m.plaintext.sha256}:${m.method}`;
      const groups = new Map<string, typeof seen>();
      for (const s of seen) groups.set(versionOf(s.manifest), [...(groups.get(versionOf(s.manifest)) ?? []), s]);
      const ranked = [...groups.values()].sort((a, b) => b.length - a.length);
      const best = ranked[0]!;
      if (ranked.length > 1 && ranked[1]!.length === best.length) {
        // No majority: either version may be the forged one. An older base backup serves instead.
        notice(`copies of backup ${backupId} disagree on what it holds and no version is held by most of them (${ranked.map((g) => g.map((s) => s.location.name).join('+')).join(' vs ')}): it is not used`);
        continue;
      }
      if (groups.size > 1) {
        const others = seen.filter((s) => !best.includes(s)).map((s) => s.location.name);
        notice(`copies of backup ${backupId} disagree on what it holds: using the version ${best.map((s) => s.location.name).join(', ')} hold, not ${others.join(', ')}`);
      }
      records.push(recordOf(best[0]!.manifest, best));
    }
    records.sort((a, b) => Date.parse(b.finishedAt!) - Date.parse(a.finishedAt!));
    return new CopiesCatalogue(records);
  }

  async list(filter: { resource?: string; states?: BackupState[]; limit?: number } = {}): Promise<BackupRecord[]> {
    return this.records.filter((r) => (!filter.resource || r.resource === filter.resource) && (!filter.states || filter.states.includes(r.state))).slice(0, filter.limit ?? Infinity);
  }

  async get(backupId: string): Promise<BackupRecord | null> {
    return this.records.find((r) => r.backupId === backupId) ?? null;
  }
}

/** A catalogue record from the manifest the copies agree on: only copies holding that version. */
const recordOf = (m: ArtifactManifest, copies: { location: BackupLocation; key: ArtifactKey }[]): BackupRecord => {
  const placed = new Map(m.copies.map((c) => [c.location, c]));
  return {
    backupId: m.backupId,
    resource: m.resource,
    policy: m.policy,
    resourceKind: m.resourceKind,
    method: m.method,
    trigger: 'unknown (listed from the copies)',
    state: 'created',
    startedAt: m.startedAt,
    finishedAt: m.finishedAt,
    recoveryPoint: m.recoveryPoint,
    bytesDone: m.stored.sizeBytes,
    bytesExpected: m.stored.sizeBytes,
    sizeBytes: m.stored.sizeBytes,
    sha256: m.stored.sha256,
    plaintext: m.plaintext,
    encryption: m.encryption,
    threeTwoOne: m.threeTwoOne as BackupRecord['threeTwoOne'],
    plannedCopies: copies.map(({ location }) => ({ location: location.name, site: placed.get(location.name)?.site ?? location.site, medium: placed.get(location.name)?.medium ?? location.medium })),
    copies: copies.map(({ location, key }) => ({
      location: location.name,
      site: location.site,
      medium: location.medium,
      uri: location.uriOf(key),
      manifestUri: location.manifestUriOf(key),
      sha256: m.stored.sha256,
      sizeBytes: m.stored.sizeBytes,
    })),
    artifactExtension: copies[0]!.key.extension,
    error: null,
    verdict: null,
    expiredAt: null,
  };
};
