import { ContractViolationError } from '../errors.js';
import { continuityEvents } from '../events.js';
import { anEvent, aSynchronousReplicationChangedData } from '../testing.js';

describe('SynchronousReplicationChanged v1', () => {
  it('is a known type at version 1, published by failover', () => {
    const event = anEvent('SynchronousReplicationChanged');
    expect(event).toMatchObject({ version: 1, source: 'failover' });
    expect(continuityEvents.parse(event)).toEqual(event);
  });

  it('names the standby commits wait for, or none when relaxed, and needs a reason', () => {
    const synchronous = anEvent('SynchronousReplicationChanged', {
      data: aSynchronousReplicationChangedData({ mode: 'synchronous', synchronousStandby: 'pg-c', setting: 'FIRST 1 ("pg-c")' }),
    });
    expect(continuityEvents.parse(synchronous).data).toMatchObject({ mode: 'synchronous', synchronousStandby: 'pg-c', previousStandby: 'pg-b' });
    expect(() => continuityEvents.parse({ ...synchronous, data: { ...synchronous.data, mode: 'off' } })).toThrow(ContractViolationError);
    expect(() => continuityEvents.parse({ ...synchronous, data: { ...synchronous.data, reason: '' } })).toThrow(ContractViolationError);
  });
});
