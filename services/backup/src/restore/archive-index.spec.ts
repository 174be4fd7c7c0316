import { manifestPath, type ArtifactKey } from '@continuity/artifacts';
import type { BackupLocation } from '../backup-run/locations/location.js';
import type { ResolvedPolicy } from '../config/backup-config.loader.js';
import { walRecordsFromCopies } from './archive-index.js';

/**
 * WAL listed from the copies' manifests (the restore's one listing, with or without the catalogue):
 * versions of partial segments, archives from before versions, and manifests that do not speak for
 * their own object. Locations in memory: only the manifests matter here.
 */
const RESOURCE = 'db';
const SEG = '000000010000000000000003';
const sha = (c: string) => c.repeat(64);

const manifest = (over: Record<string, unknown>) => ({
  kind: 'wal',
  resource: RESOURCE,
  name: SEG,
  type: 'segment',
  timeline: 1,
  startLsn: '0/3000000',
  endLsn: '0/3001000',
  partial: true,
  stored: { sha256: sha('1'), sizeBytes: 10 },
  plaintext: { sha256: sha('a'), sizeBytes: 16 << 20 },
  encryption: null,
  archivedAt: '2026-12-01T10:00:00.000Z',
  ...over,
});
const version = (bytes: number, plain: string) => ({
  object: `${SEG}.partial.${bytes.toString(16).toUpperCase().padStart(8, '0')}`,
  endLsn: `0/${(0x3000000 + bytes).toString(16).toUpperCase()}`,
  plaintext: { sha256: sha(plain), sizeBytes: 16 << 20 },
});

/** A location holding `manifests` by object name. */
const location = (name: string, manifests: Record<string, object>): BackupLocation =>
  ({
    name,
    kind: 'filesystem',
    listManifests: async () => Object.keys(manifests).map((object) => `wal/00000001/${object}.manifest.json`),
    readManifest: async (key: ArtifactKey) => {
      const object = manifestPath(key).split('/').pop()!.replace(/\.manifest\.json$/, '');
      return object in manifests ? Buffer.from(JSON.stringify(manifests[object])) : null;
    },
  }) as unknown as BackupLocation;

const policyOf = (names: string[]) => ({ resourceName: RESOURCE, encryption: null, copies: names.map((name) => ({ name })) }) as unknown as ResolvedPolicy;

const list = async (locations: BackupLocation[], recorded?: Map<string, Set<string>>) => {
  const notices: string[] = [];
  const records = await walRecordsFromCopies(policyOf(locations.map((l) => l.name)), (n) => locations.find((l) => l.name === n) ?? null, (m) => notices.push(m), recorded);
  return { records, notices };
};

describe('walRecordsFromCopies: one record per WAL file, a partial segment as the version to plan on', () => {
  const v1 = version(0x1000, 'a');
  const v2 = version(0x2000, 'b');
  const both = (extra: Record<string, object> = {}) => ({ [v1.object]: manifest(v1), [v2.object]: manifest(v2), ...extra });

  it('the newest version every copy holds, with its object name and LSN range', async () => {
    const { records, notices } = await list([location('a', both()), location('b', both())]);
    expect(records).toEqual([expect.objectContaining({ name: SEG, object: v2.object, partial: true, endLsn: '0/3002000', plaintextSha256: sha('b') })]);
    expect(records[0]!.copies.map((c) => c.location)).toEqual(['a', 'b']);
    expect(notices).toEqual([]);
  });

  it('a "newer" version only one copy of several holds is passed over, and said', async () => {
    const forged = version(0xfff000, 'f');
    const { records, notices } = await list([location('a', both({ [forged.object]: manifest(forged) })), location('b', both()), location('c', both())]);
    expect(records.map((r) => r.object)).toEqual([v2.object]);
    expect(notices).toEqual([`WAL file ${SEG}: version ${forged.object} not used: only a of the 3 copy locations holding ${SEG} hold it`]);
  });

  it('with the ledger: the newest version it recorded', async () => {
    const { records } = await list([location('a', both()), location('b', both())], new Map([[SEG, new Set([sha('a')])]]));
    expect(records.map((r) => r.object)).toEqual([v1.object]);
  });

  it('the finished segment over every version', async () => {
    const finished = manifest({ partial: false, endLsn: '0/4000000', plaintext: { sha256: sha('c'), sizeBytes: 16 << 20 } });
    const { records } = await list([location('a', both({ [SEG]: finished })), location('b', both({ [SEG]: finished }))]);
    expect(records).toEqual([expect.objectContaining({ name: SEG, partial: false, endLsn: '0/4000000' })]);
    expect(records[0]!.object).toBeUndefined();
  });

  it('an archive from before versions: the partial segment under the plain name restores as it did (no object in the plan)', async () => {
    const legacy = { [SEG]: manifest({}) };
    const { records } = await list([location('a', legacy), location('b', legacy)]);
    expect(records).toEqual([expect.objectContaining({ name: SEG, partial: true, endLsn: '0/3001000' })]);
    expect(records[0]!.object).toBeUndefined();
  });

  it('a manifest that does not speak for its own object (another version, another segment, a finished one under a version name) is not used', async () => {
    const other = { [v2.object]: manifest({ ...v2, object: `${SEG}.partial.00FFF000`, endLsn: '0/3FFF000' }) };
    expect((await list([location('a', other)])).records).toEqual([]);
    const elsewhere = { [v2.object]: manifest({ ...v2, name: '000000010000000000000004', startLsn: '0/4000000', endLsn: '0/4002000' }) };
    expect((await list([location('a', elsewhere)])).records).toEqual([]);
    const notPartial = { [v2.object]: manifest({ ...v2, partial: false }) };
    expect((await list([location('a', notPartial)])).records).toEqual([]);
  });
});
