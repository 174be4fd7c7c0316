import { ContractViolationError } from '../errors.js';
import { continuityEvents } from '../events.js';
import { anEvent, aWalGapDetectedData } from '../testing.js';

describe('WalGapDetected v1', () => {
  it('is a known type at version 1, published by backup', () => {
    const event = anEvent('WalGapDetected');
    expect(event).toMatchObject({ version: 1, source: 'backup' });
    expect(continuityEvents.parse(event)).toEqual(event);
  });

  it('names the missing range and needs a reason; the base backup may be absent, with the reason saying why', () => {
    const event = anEvent('WalGapDetected', { data: aWalGapDetectedData({ baseBackupId: null }) });
    expect(continuityEvents.parse(event).data).toMatchObject({ fromLsn: '0/5000000', toLsn: '0/9000000', baseBackupId: null });
    expect(() => continuityEvents.parse({ ...event, data: { ...event.data, reason: '' } })).toThrow(ContractViolationError);
    expect(() => continuityEvents.parse({ ...event, data: { ...event.data, missingSegments: { first: '00000001.history', last: '000000010000000000000008' } } })).toThrow(ContractViolationError);
  });
});
