import { z } from 'zod';
import { ContractViolationError, UnknownEventVersionError } from './errors.js';
import { continuityEvents, EventType } from './events.js';
import { EventRegistry } from './registry.js';
import { anEvent } from './testing.js';

describe('continuityEvents registry', () => {
  it('accepts a valid event of every known type', () => {
    for (const type of continuityEvents.knownTypes() as EventType[]) {
      const event = anEvent(type);
      expect(continuityEvents.parse(event)).toEqual(event);
    }
  });

  it('lists every failing field, envelope and data alike', () => {
    const event = anEvent('BackupCreated', { resource: 'orders.db', occurredAt: 'yesterday' });
    const bad = { ...event, data: { ...event.data, sha256: 'XYZ', copies: [] } };
    let error: unknown;
    try {
      continuityEvents.parse(bad);
    } catch (e) {
      error = e;
    }
    expect(error).toBeInstanceOf(ContractViolationError);
    const paths = (error as ContractViolationError).issues.map((i) => i.path).sort();
    expect(paths).toEqual(['data.copies', 'data.sha256', 'occurredAt', 'resource']);
    expect((error as Error).message).toContain('resource:');
  });

  it('rejects an unknown version of a known type, naming what it knows', () => {
    const event = { ...anEvent('BackupCreated'), version: 7 };
    expect(() => continuityEvents.parse(event)).toThrow(UnknownEventVersionError);
    expect(() => continuityEvents.parse(event)).toThrow('no schema for BackupCreated v7 (this build knows v1, v2)');
  });

  it('rejects unknown types unless asked to accept them', () => {
    const event = { ...anEvent('BackupCreated'), type: 'CoffeeBrewed', data: { cups: 2 } };
    expect(() => continuityEvents.parse(event)).toThrow(UnknownEventVersionError);
    expect(continuityEvents.parse(event, { allowUnknownTypes: true })).toEqual(event);
  });

  it('rejects ids that are not UUIDv7', () => {
    const event = { ...anEvent('FailoverCompleted'), id: '6f1c3a52-3b7b-4c1e-9a53-0c3f1c2a9d11' };
    expect(() => continuityEvents.parse(event)).toThrow(/id: must be a UUIDv7/);
  });
});

describe('upcasting', () => {
  const V1 = z.object({ name: z.string() });
  const V2 = z.object({ firstName: z.string(), lastName: z.string().nullable() });
  const V3 = z.object({ firstName: z.string(), lastName: z.string().nullable(), nickname: z.string().nullable() });
  const registry = new EventRegistry()
    .define('PersonNamed', 1, V1)
    .define('PersonNamed', 2, V2, (v1: z.infer<typeof V1>) => {
      const [firstName, ...rest] = v1.name.split(' ');
      return { firstName, lastName: rest.length ? rest.join(' ') : null };
    })
    .define('PersonNamed', 3, V3, (v2: z.infer<typeof V2>) => ({ ...v2, nickname: null }));
  const base = anEvent('BackupCreated');

  it('reads a v1 event as the newest version, through every upcaster in turn', () => {
    const v1 = { ...base, type: 'PersonNamed', version: 1, data: { name: 'Ada King Lovelace' } };
    expect(registry.parse(v1)).toEqual({
      ...v1,
      version: 3,
      data: { firstName: 'Ada', lastName: 'King Lovelace', nickname: null },
    });
  });

  it('leaves the newest version as it is', () => {
    const v3 = { ...base, type: 'PersonNamed', version: 3, data: { firstName: 'Grace', lastName: null, nickname: 'Amazing' } };
    expect(registry.parse(v3)).toEqual(v3);
  });

  it('validates old data against its own schema before upcasting', () => {
    const v1 = { ...base, type: 'PersonNamed', version: 1, data: { firstName: 'Ada' } };
    expect(() => registry.parse(v1)).toThrow(/PersonNamed v1 is invalid: data.name/);
  });

  it('refuses a version without an upcaster from the previous one', () => {
    expect(() => new EventRegistry().define('X', 1, V1).define('X', 2, V2)).toThrow('X v2 needs an upcaster from v1');
    expect(() => new EventRegistry().define('X', 2, V2, (d) => d)).toThrow('X v2 needs v1 first');
  });
});
