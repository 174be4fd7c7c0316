import { mkdirSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { v7 as uuidv7 } from 'uuid';
import { buildManifest, type ArtifactManifest } from '@continuity/artifacts';
import { FilesystemLocation } from '../src/backup-run/locations/filesystem.location.js';
import { parseBackupConfig, type ResolvedPolicy } from '../src/config/backup-config.loader.js';
import { CopiesCatalogue } from '../src/restore/copies-catalogue.js';
import { tempDir } from './harness.js';

const RESOURCE = 'pg-main';
const LOCATIONS = ['a', 'b', 'c'];
const hash = (c: string) => c.repeat(64);

/** The catalogue of the disaster path, read from manifests on real filesystem locations. */
describe('base backups listed from the copies\' manifests (no catalogue database)', () => {
  let root: string;
  let policy: ResolvedPolicy;
  let notices: string[];
  const location = (name: string) => (LOCATIONS.includes(name) ? new FilesystemLocation(name, 'site', 'disk', join(root, name)) : null);
  const manifest = (backupId: string, over: Partial<ArtifactManifest> = {}): ArtifactManifest => ({
    ...buildManifest(
      { backupId, resource: RESOURCE, resourceKind: 'postgres', policy: 'p', method: 'basebackup', recoveryPoint: '2026-12-01T10:00:00.000Z', startedAt: '2026-12-01T10:00:00.000Z', encryption: null, threeTwoOne: { compliant: true, resourceSite: 'site', failedRules: [], optOut: null } },
      {
        finishedAt: '2026-12-01T10:01:00.000Z',
        stored: { sha256: hash('a'), sizeBytes: 100 },
        plaintext: { sha256: hash('b'), sizeBytes: 200 },
        tools: {},
        copies: LOCATIONS.map((l) => ({ location: l, site: 'site', medium: 'disk', uri: `file:///elsewhere/${l}` })),
        files: null,
        skipped: [],
      },
    ),
    ...over,
  });
  const put = (loc: string, fileId: string, m: ArtifactManifest | string) => {
    mkdirSync(join(root, loc, RESOURCE), { recursive: true });
    writeFileSync(join(root, loc, RESOURCE, `${fileId}.manifest.json`), typeof m === 'string' ? m : JSON.stringify(m));
  };
  const load = () => CopiesCatalogue.load(policy, location, (m) => notices.push(m));

  beforeEach(async () => {
    root = tempDir('copies-catalogue');
    notices = [];
    const config = await parseBackupConfig(
      join(root, 'c.yaml'),
      `
resources:
  ${RESOURCE}: { kind: postgres, site: site, connection: "postgres://x@127.0.0.1/db" }
locations:
${LOCATIONS.map((l) => `  ${l}: { kind: filesystem, site: site-${l}, medium: disk, path: ${join(root, l)} }`).join('\n')}
policies:
  p: { resource: ${RESOURCE}, method: basebackup, copies: [${LOCATIONS.join(', ')}], threeTwoOne: { optOut: test } }
`,
    );
    policy = config.policies.get('p')!;
  });
  afterEach(() => rmSync(root, { recursive: true, force: true }));

  it('one record per backup, from every copy holding it, newest first; the copies\' own locations, never the URIs a manifest names', async () => {
    const [older, newer] = [uuidv7(), uuidv7()];
    for (const l of LOCATIONS) put(l, older, manifest(older));
    for (const l of ['a', 'b']) put(l, newer, manifest(newer, { finishedAt: '2026-12-01T11:01:00.000Z' }));
    const records = await (await load()).list({ resource: RESOURCE, states: ['created'] });
    expect(records.map((r) => [r.backupId, r.copies.map((c) => c.location)])).toEqual([
      [newer, ['a', 'b']],
      [older, ['a', 'b', 'c']],
    ]);
    expect(records[1]).toMatchObject({ method: 'basebackup', artifactExtension: 'tar.zst', sha256: hash('a'), sizeBytes: 100, plaintext: { sha256: hash('b') } });
    expect(records[1]!.copies[0]!.uri).toBe(`file://${join(root, 'a', RESOURCE, `${older}.tar.zst`)}`);
    expect(notices).toEqual([]);
  });

  it('a copy whose manifest was rewritten (another hash) is outvoted and left out of the record, and said so', async () => {
    const id = uuidv7();
    put('a', id, manifest(id, { stored: { sha256: hash('f'), sizeBytes: 100 } }));
    for (const l of ['b', 'c']) put(l, id, manifest(id));
    const record = await (await load()).get(id);
    expect(record!.copies.map((c) => c.location)).toEqual(['b', 'c']);
    expect(record!.sha256).toBe(hash('a'));
    expect(notices.join('\n')).toContain(`copies of backup ${id} disagree on what it holds: using the version b, c hold, not a`);
  });

  it('copies that disagree with no majority: the backup is not used at all', async () => {
    const id = uuidv7();
    put('a', id, manifest(id, { stored: { sha256: hash('f'), sizeBytes: 100 } }));
    put('b', id, manifest(id));
    expect(await (await load()).get(id)).toBeNull();
    expect(notices.join('\n')).toContain('no version is held by most of them');
  });

  it('ignores a manifest of another resource or another backup id, one that is not JSON, and file names that are not backup ids', async () => {
    const [id, other] = [uuidv7(), uuidv7()];
    put('a', id, manifest(id, { resource: 'someone-else' }));
    put('b', id, manifest(other));
    put('c', id, '{not json');
    put('a', '..%2F..%2Fetc', manifest(id));
    expect(await (await load()).list({})).toEqual([]);
    expect(notices).toHaveLength(3);
  });
});
