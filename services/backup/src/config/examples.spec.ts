import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { demoContinuityYaml } from '@continuity/runtime';
import { parseBackupConfig } from './backup-config.loader.js';

const example = join(__dirname, '..', '..', '..', '..', 'examples', 'continuity.yaml');
const demo = demoContinuityYaml({ dir: '/srv/demo', primary: { name: 'demo-pg-a', port: 40001 }, standby: { name: 'demo-pg-b', port: 40002 }, bucket: 'continuity-demo-x', schedule: 'every 5m' });

describe('configuration files shipped with the repository', () => {
  it('accepts examples/continuity.yaml: every policy meets 3-2-1', async () => {
    const config = await parseBackupConfig(example, readFileSync(example, 'utf8'));
    expect([...config.policies.keys()].sort()).toEqual(['orders-frequent', 'uploads-hourly']);
    for (const policy of config.policies.values()) expect(policy.threeTwoOneFailures).toEqual([]);
  });

  it("accepts the demo estate's generated file: every policy meets 3-2-1", async () => {
    const config = await parseBackupConfig('/srv/demo/continuity.yaml', demo);
    expect([...config.policies.values()].map((p) => [p.resourceName, p.threeTwoOneFailures, p.copies.length])).toEqual([
      ['shop-db', [], 3],
      ['shop-files', [], 3],
    ]);
  });
});
