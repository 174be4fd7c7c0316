import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { generateJsonSchemas } from './json-schemas.js';

describe('checked-in JSON Schemas', () => {
  const dir = join(__dirname, '..', 'schemas');

  it('match the zod schemas exactly (run `npm run schemas` after changing a contract)', () => {
    const generated = generateJsonSchemas();
    const onDisk = Object.fromEntries(
      readdirSync(dir)
        .filter((f) => f.endsWith('.json'))
        .map((f) => [f, readFileSync(join(dir, f), 'utf8')]),
    );
    expect(Object.keys(onDisk).sort()).toEqual(Object.keys(generated).sort());
    for (const [name, text] of Object.entries(generated)) expect({ name, text: onDisk[name] }).toEqual({ name, text });
  });

  it('pin type and version and describe the data', () => {
    const schema = JSON.parse(generateJsonSchemas()['BackupCreated.v1.json']!);
    expect(schema.properties.type).toEqual({ type: 'string', const: 'BackupCreated' });
    expect(schema.properties.data.required).toContain('copies');
  });
});
