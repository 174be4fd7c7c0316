import { ContractViolationError } from '../errors.js';
import { continuityEvents } from '../events.js';
import { aFailoverAbandonedData, anEvent } from '../testing.js';

describe('FailoverAbandoned v1', () => {
  it('is a known type at version 1', () => {
    const event = anEvent('FailoverAbandoned');
    expect(event.version).toBe(1);
    expect(continuityEvents.parse(event)).toEqual(event);
  });

  it('may name no target (none had been chosen) but needs a reason and a time', () => {
    const event = anEvent('FailoverAbandoned', { data: aFailoverAbandonedData({ toInstance: null, planned: false }) });
    expect(continuityEvents.parse(event).data).toMatchObject({ toInstance: null, planned: false });
    expect(() => continuityEvents.parse({ ...event, data: { ...event.data, reason: '' } })).toThrow(ContractViolationError);
    expect(() => continuityEvents.parse({ ...event, data: { ...event.data, at: 'yesterday' } })).toThrow(/at/);
  });
});
