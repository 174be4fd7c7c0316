import { ContractViolationError } from '../errors.js';
import { continuityEvents } from '../events.js';
import { anEvent, anSloBreachedData, anSloRestoredData } from '../testing.js';

describe('SloBreached v1 / SloRestored v1', () => {
  it('are known types at version 1, published by audit', () => {
    for (const type of ['SloBreached', 'SloRestored'] as const) {
      const event = anEvent(type);
      expect(event).toMatchObject({ version: 1, source: 'audit' });
      expect(continuityEvents.parse(event)).toEqual(event);
    }
  });

  it('refuse an unknown kind, a negative measurement, an empty detail and too much evidence', () => {
    const event = anEvent('SloBreached', { data: anSloBreachedData({ kind: 'rpo' }) });
    expect(() => continuityEvents.parse({ ...event, data: { ...event.data, kind: 'latency' } })).toThrow(ContractViolationError);
    expect(() => continuityEvents.parse({ ...event, data: { ...event.data, measured: -1 } })).toThrow(ContractViolationError);
    expect(() => continuityEvents.parse({ ...event, data: { ...event.data, detail: '' } })).toThrow(ContractViolationError);
    const evidence = Array.from({ length: 101 }, () => event.id);
    expect(() => continuityEvents.parse({ ...event, data: { ...event.data, evidence } })).toThrow(ContractViolationError);
    const restored = anEvent('SloRestored', { data: anSloRestoredData({ breachId: event.data.breachId }) });
    expect(() => continuityEvents.parse({ ...restored, data: { ...restored.data, restoredAt: 'yesterday' } })).toThrow(ContractViolationError);
  });
});
