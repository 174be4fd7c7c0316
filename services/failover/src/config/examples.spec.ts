import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { demoContinuityYaml } from '@continuity/runtime';
import { parseFailoverConfig } from './failover-config.loader.js';

const example = join(__dirname, '..', '..', '..', '..', 'examples', 'continuity.yaml');

describe('configuration files shipped with the repository', () => {
  it("accepts examples/continuity.yaml's failover section", () => {
    const settings = parseFailoverConfig(example, readFileSync(example, 'utf8'));
    expect(settings.resources.map((r) => r.resource)).toEqual(['orders-db']);
  });

  it("accepts the demo estate's generated file: the pair, primary first", () => {
    const text = demoContinuityYaml({ dir: '/srv/demo', primary: { name: 'demo-pg-a', port: 40001 }, standby: { name: 'demo-pg-b', port: 40002 }, bucket: 'b', schedule: 'every 5m' });
    const [shop] = parseFailoverConfig('/srv/demo/continuity.yaml', text).resources;
    expect(shop!.resource).toBe('shop-db');
    expect(JSON.stringify(shop)).toContain('127.0.0.1:40002');
  });
});
