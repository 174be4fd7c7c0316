import { ContractViolationError } from '../errors.js';
import { continuityEvents } from '../events.js';
import { anEvent, aRestorePointCreatedData } from '../testing.js';

describe('RestorePointCreated v1', () => {
  it('is a known type at version 1, published by backup', () => {
    const event = anEvent('RestorePointCreated');
    expect(event).toMatchObject({ version: 1, source: 'backup' });
    expect(continuityEvents.parse(event)).toEqual(event);
  });

  it('refuses a name PostgreSQL would not take or a recovery target could not carry, and a bad LSN', () => {
    const event = anEvent('RestorePointCreated', { data: aRestorePointCreatedData({ trigger: 'base-backup', backupId: '0190a0a0-0000-7000-8000-000000000000' }) });
    expect(continuityEvents.parse(event).data).toMatchObject({ trigger: 'base-backup' });
    for (const name of ['', 'x'.repeat(64), "a'; DROP", 'with space']) {
      expect(() => continuityEvents.parse({ ...event, data: { ...event.data, name } })).toThrow(ContractViolationError);
    }
    expect(() => continuityEvents.parse({ ...event, data: { ...event.data, lsn: '0-3000158' } })).toThrow(ContractViolationError);
    expect(() => continuityEvents.parse({ ...event, data: { ...event.data, timeline: 0 } })).toThrow(ContractViolationError);
  });
});
