// `npm run nats:auth -- --in deploy/nats/identities.yaml --out <dir>`: the NATS server's
// authorization block, one nkey seed per identity (mode 0600) and CONTINUITY_PUBLISHERS, from one
// identities file. Existing seeds in <dir> are kept (delete one to rotate that identity's key).
// Seeds are never printed.
import { readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { parseArgs } from 'node:util';

const require = createRequire(import.meta.url);
const { generateNatsAuth } = require('@continuity/messaging');

const { values } = parseArgs({ options: { in: { type: 'string' }, out: { type: 'string' } } });
if (!values.in || !values.out) {
  console.error('usage: npm run nats:auth -- --in deploy/nats/identities.yaml --out <dir>');
  process.exit(2);
}
try {
  const generated = generateNatsAuth(readFileSync(values.in, 'utf8'), values.out);
  console.log(`wrote ${generated.configFile} (include it in the NATS server configuration)`);
  for (const [identity, file] of generated.seedFiles) console.log(`  ${identity}: NATS_NKEY_SEED_FILE=${file}`);
  console.log(`  services: CONTINUITY_PUBLISHERS=${generated.publishersEnv}`);
} catch (error) {
  console.error(`nats:auth: ${error.message}`);
  process.exit(1);
}
