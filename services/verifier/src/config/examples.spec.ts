import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { demoVerifierYaml } from '@continuity/runtime';
import { parseVerifierConfig } from './verifier-config.js';

const example = join(__dirname, '..', '..', '..', '..', 'examples', 'verifier.yaml');

describe('configuration files shipped with the repository', () => {
  it('accepts examples/verifier.yaml', async () => {
    const config = await parseVerifierConfig(example, readFileSync(example, 'utf8'));
    expect([...config.resources.keys()]).toEqual(['orders-db']);
  });

  it("accepts the demo estate's generated file", async () => {
    const config = await parseVerifierConfig('/srv/demo/verifier.yaml', demoVerifierYaml({ dir: '/srv/demo', primary: { name: 'a', port: 1 }, standby: { name: 'b', port: 2 }, bucket: 'b', schedule: 'every 5m' }));
    expect([...config.resources.keys()]).toEqual(['shop-db']);
    expect(config.fileRoots).toEqual(['/srv/demo/sites/a/backups', '/srv/demo/sites/b/backups']);
  });
});
