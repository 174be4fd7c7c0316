import { ContractViolationError } from '../errors.js';
import { continuityEvents } from '../events.js';
import { anEvent, aWalVerifiedData } from '../testing.js';

describe('WalVerified v1', () => {
  it('is a known type at version 1, published by the verifier', () => {
    const event = anEvent('WalVerified');
    expect(event).toMatchObject({ version: 1, source: 'verifier' });
    expect(continuityEvents.parse(event)).toEqual(event);
  });

  it('names gaps by LSN range and failed copies by WAL file name, and refuses a name with path characters', () => {
    const event = anEvent('WalVerified', {
      data: aWalVerifiedData({
        verdict: 'failed',
        gaps: [{ timeline: 1, fromLsn: '0/5000000', toLsn: '0/6000000', detail: 'segment 000000010000000000000005 missing' }],
        failedCopies: [{ name: '000000010000000000000004', location: 'nas', uri: 'file:///b/nas/x.zst', error: 'SHA-256 differs' }],
      }),
    });
    expect((continuityEvents.parse(event).data as { gaps: unknown[] }).gaps).toHaveLength(1);
    const bad = { ...event.data, failedCopies: [{ ...event.data.failedCopies[0]!, name: '../../etc/passwd' }] };
    expect(() => continuityEvents.parse({ ...event, data: bad })).toThrow(ContractViolationError);
    expect(() => continuityEvents.parse({ ...event, data: { ...event.data, gaps: [{ ...event.data.gaps[0]!, fromLsn: 'zzz' }] } })).toThrow(ContractViolationError);
  });
});

