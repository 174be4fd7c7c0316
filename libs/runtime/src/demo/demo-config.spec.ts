import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parse } from 'yaml';
import { demoContinuityYaml, demoVerifierYaml, DemoLayout } from './demo-config.js';

// A checkout whose path holds a space, wherever this machine keeps temporary files.
const demoDir = join(tmpdir(), 'new comer', 'continuity', '.continuity', 'demo');
const layout: DemoLayout = {
  dir: demoDir,
  primary: { name: 'demo-pg-a', port: 41001 },
  standby: { name: 'demo-pg-b', port: 41002 },
  bucket: 'continuity-demo-1234abcd',
  schedule: 'every 5m',
};

describe('demo configuration', () => {
  it('protects the pair and the files with three copies on three media in two sites, every few minutes', () => {
    const config = parse(demoContinuityYaml(layout));
    expect(config.resources['shop-db']).toMatchObject({ kind: 'postgres', site: 'site-a', connection: 'postgres://postgres@127.0.0.1:41001/shop' });
    expect(config.resources['shop-files'].path).toBe(join(demoDir, 'files'));
    const locations = Object.values(config.locations) as { site: string; medium: string }[];
    expect(new Set(locations.map((l) => l.site))).toEqual(new Set(['site-a', 'site-b']));
    expect(new Set(locations.map((l) => l.medium)).size).toBe(3);
    for (const policy of Object.values(config.policies) as { schedule: string; copies: string[] }[]) {
      expect(policy.schedule).toBe('every 5m');
      expect(policy.copies).toHaveLength(3);
    }
    expect(config.failover.resources['shop-db'].members.map((m: any) => [m.name, m.role])).toEqual([
      ['demo-pg-a', 'primary'],
      ['demo-pg-b', 'standby'],
    ]);
  });

  it('allows restores only into scratch databases and one folder', () => {
    const config = parse(demoContinuityYaml(layout));
    expect(config.resources['shop-db'].restoreTargets).toEqual(['postgres://postgres@127.0.0.1:41001/shop_restore*']);
    expect(config.resources['shop-files'].restoreTargets).toEqual([join(demoDir, 'restore', 'files')]);
  });

  it('cannot be bent by a path holding YAML syntax', () => {
    const evilDir = join(tmpdir(), 'x"\n  injected: true #');
    const evil = { ...layout, dir: evilDir };
    const config = parse(demoContinuityYaml(evil));
    expect(config.resources['shop-files'].path).toBe(`${evilDir}/files`);
    expect(config.resources['shop-files'].injected).toBeUndefined();
    expect(parse(demoVerifierYaml(evil)).fileRoots[0]).toBe(`${evilDir}/sites/a/backups`);
  });
});
