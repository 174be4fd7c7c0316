import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { Parser } from '@asyncapi/parser';
import { stringify } from 'yaml';
import { generateAsyncApi } from './asyncapi.js';
import { continuityEvents } from './events.js';

const committed = readFileSync(join(__dirname, '..', 'asyncapi.yaml'), 'utf8');

const errorsOf = (diagnostics: { severity: number; path: (string | number)[]; message: string }[]) =>
  diagnostics.filter((d) => d.severity === 0).map((d) => `${d.path.join('.')}: ${d.message}`);

describe('AsyncAPI 3 document of the event contracts', () => {
  let parsed: Awaited<ReturnType<Parser['parse']>>;
  beforeAll(async () => {
    parsed = await new Parser().parse(committed);
  }, 60_000);

  it('is valid for the AsyncAPI parser, with no error-level diagnostics', () => {
    expect(errorsOf(parsed.diagnostics)).toEqual([]);
    expect(parsed.document).toBeDefined();
    expect(parsed.document!.version()).toBe('3.0.0');
  });

  it('the parser does catch a broken document (an operation on a channel that does not exist)', async () => {
    const broken = committed.replace('$ref: "#/channels/BackupCreated"', '$ref: "#/channels/NoSuchChannel"');
    expect(broken).not.toBe(committed);
    const { document, diagnostics } = await new Parser().parse(broken);
    expect(document).toBeUndefined();
    expect(errorsOf(diagnostics).length).toBeGreaterThan(0);
  }, 60_000);

  it('has a channel per event type (its subject) and a message per schema version', () => {
    const { document } = parsed;
    const types = continuityEvents.knownTypes();
    expect(document!.channels().all().map((c) => c.id()).sort()).toEqual([...types].sort());
    const created = document!.channels().get('BackupCreated')!;
    expect(created.address()).toBe('continuity.events.BackupCreated.{resource}');
    expect(created.messages().all().map((m) => m.id()).sort()).toEqual(
      Array.from({ length: continuityEvents.latestVersion('BackupCreated') }, (_, i) => `BackupCreated.v${i + 1}`),
    );
    const payload = created.messages().get('BackupCreated.v2')!.payload()!.json() as { required: string[]; properties: Record<string, { const?: unknown }> };
    expect(payload.required).toEqual(expect.arrayContaining(['id', 'type', 'version', 'source', 'resource', 'occurredAt', 'correlationId', 'data']));
    expect(payload.properties.type!.const).toBe('BackupCreated');
    expect(payload.properties.version!.const).toBe(2);
  });

  it('is what `npm run schemas` writes from the current contracts (regenerate and commit after a change)', () => {
    const body = committed.slice(committed.indexOf('\n') + 1);
    expect(body).toBe(stringify(generateAsyncApi(), { lineWidth: 0, aliasDuplicateObjects: false }));
  });
});
