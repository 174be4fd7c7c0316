// Regenerates libs/contracts/schemas/*.json from the zod schemas (run `npm run schemas`).
import { mkdirSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

const here = dirname(fileURLToPath(import.meta.url));
const { generateJsonSchemas } = createRequire(import.meta.url)('../dist/json-schemas.js');
const out = join(here, '..', 'schemas');
mkdirSync(out, { recursive: true });
for (const file of readdirSync(out)) if (file.endsWith('.json')) rmSync(join(out, file));
const files = generateJsonSchemas();
for (const [name, text] of Object.entries(files)) writeFileSync(join(out, name), text);
console.log(`wrote ${Object.keys(files).length} schemas to ${out}`);
