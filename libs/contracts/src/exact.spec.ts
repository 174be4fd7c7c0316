import { z } from 'zod';
import { EnvelopeSchema } from './envelope.js';
import { continuityEvents, EventType } from './events.js';
import { exactParser, strictTwin } from './exact.js';
import { EventRegistry } from './registry.js';
import { anEvent } from './testing.js';

describe('strictTwin', () => {
  it('refuses schemas whose output may differ from their input', () => {
    for (const schema of [
      z.object({ a: z.string().default('x') }),
      z.object({ a: z.string().transform((s) => s.length) }),
      z.object({ a: z.string().trim() }),
      z.object({ a: z.coerce.number() }),
      z.object({ a: z.string().catch('x') }),
      z.object({ a: z.union([z.object({ b: z.string() }), z.object({ b: z.string(), c: z.string() })]) }),
      z.array(z.string().pipe(z.string())),
    ]) {
      expect(strictTwin(schema)).toBeNull();
    }
  });

  it('makes every object strict, nested in arrays, optionals and records, keeping each check', () => {
    const schema = z.object({ a: z.array(z.object({ b: z.string().max(3) })).max(2), c: z.object({ d: z.int() }).nullable().optional(), e: z.record(z.string(), z.object({ f: z.boolean() })) });
    const exact = exactParser(schema, (s) => s);
    const good = { a: [{ b: 'abc' }], c: null, e: { k: { f: true } } };
    expect(exact.isExact(good)).toBe(true);
    expect(exact.isExact({ ...good, extra: 1 })).toBe(false);
    expect(exact.isExact({ ...good, a: [{ b: 'abc', extra: 1 }] })).toBe(false);
    expect(exact.isExact({ ...good, c: { d: 1, extra: 1 } })).toBe(false);
    expect(exact.isExact({ ...good, e: { k: { f: true, extra: 1 } } })).toBe(false);
    expect(exact.isExact({ ...good, a: [{ b: 'abcd' }] })).toBe(false);
    expect(exact.isExact({ ...good, a: [{ b: 'a' }, { b: 'b' }, { b: 'c' }] })).toBe(false);
    expect(exact.isExact({ ...good, c: { d: 1.5 } })).toBe(false);
    // The original is unchanged: it still strips.
    expect(schema.parse({ ...good, extra: 1 })).toEqual(good);
  });

  it('applies to the envelope and to every version of every event type (else the fast path never runs)', () => {
    expect(strictTwin(EnvelopeSchema)).not.toBeNull();
    for (const type of continuityEvents.knownTypes()) {
      for (let v = 1; v <= continuityEvents.latestVersion(type); v++) {
        expect([type, v, strictTwin(continuityEvents.schemaFor(type, v)) !== null]).toEqual([type, v, true]);
      }
    }
  });
});

describe('EventRegistry.parse without copies', () => {
  it('returns a well-formed event as it is, equal to what Zod parses it to', () => {
    for (const type of continuityEvents.knownTypes() as EventType[]) {
      const event = anEvent(type);
      const parsed = continuityEvents.parse(event);
      expect(parsed).toBe(event);
      expect(parsed).toEqual({ ...EnvelopeSchema.parse(event), data: continuityEvents.schemaFor(type, event.version).parse(event.data) });
    }
  });

  it('still strips unknown keys, of the envelope and of the data at any depth, without changing its input', () => {
    const event = anEvent('BackupCreated');
    const copies = event.data.copies.map((c, i) => (i === 0 ? { ...c, extra: 'x' } : c));
    const raw = { ...event, extra: 1, data: { ...event.data, extra: 2, copies } };
    const before = structuredClone(raw);
    const parsed = continuityEvents.parse(raw);
    expect(parsed).toEqual(event);
    expect(raw).toEqual(before);
  });

  it('upcasts into a new object, leaving the input as it was published', () => {
    const registry = new EventRegistry()
      .define('Thing', 1, z.object({ a: z.string() }))
      .define('Thing', 2, z.object({ a: z.string(), b: z.number() }), (previous: { a: string }) => ({ ...previous, b: 0 }));
    const raw = { ...anEvent('BackupCreated'), type: 'Thing', version: 1, data: { a: 'x' } };
    const before = structuredClone(raw);
    const parsed = registry.parse(raw);
    expect(parsed).toEqual({ ...before, version: 2, data: { a: 'x', b: 0 } });
    expect(raw).toEqual(before);
  });

  it('rejects what it rejected before: an unknown key does not hide an invalid field', () => {
    const event = anEvent('BackupCreated');
    expect(() => continuityEvents.parse({ ...event, extra: 1, data: { ...event.data, sha256: 'XYZ' } })).toThrow(/sha256/);
    expect(() => continuityEvents.parse({ ...event, data: { ...event.data, sha256: 'XYZ' } })).toThrow(/sha256/);
  });
});
