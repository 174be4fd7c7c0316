import { ContractViolationError } from '../errors.js';
import { continuityEvents } from '../events.js';
import { anEvent, aWalExpiredData } from '../testing.js';

describe('WalExpired v1', () => {
  it('is a known type at version 1, published by backup', () => {
    const event = anEvent('WalExpired');
    expect(event).toMatchObject({ version: 1, source: 'backup' });
    expect(continuityEvents.parse(event)).toEqual(event);
  });

  it('says from where WAL is kept and the earliest moment still recoverable; never names a history file as expired', () => {
    const event = anEvent('WalExpired');
    expect((continuityEvents.parse(event).data as { earliestRecoverable: { at: string } }).earliestRecoverable.at).toBe('2026-11-26T09:00:00.000Z');
    expect(() => continuityEvents.parse({ ...event, data: { ...event.data, segments: { ...event.data.segments, first: '00000001.history' } } })).toThrow(ContractViolationError);
    expect(() => continuityEvents.parse({ ...event, data: { ...event.data, segments: { ...event.data.segments, count: 0 } } })).toThrow(ContractViolationError);
    expect(() => continuityEvents.parse({ ...event, data: { ...event.data, copies: [{ location: 'local-disk', deleted: -1, failed: 0, error: null }] } })).toThrow(ContractViolationError);
  });
});
