import { ContractViolationError } from '../errors.js';
import { continuityEvents } from '../events.js';
import { aFailoverTriggeredData, anEvent } from '../testing.js';

describe('FailoverTriggered v2', () => {
  it('reads a v1 event as v2, saying "not stated" for what v1 did not carry', () => {
    const latest = anEvent('FailoverTriggered');
    const { observations, decidedBy, lastHealthyAt, primaryLsn, fence, ...v1Data } = latest.data;
    const v1 = { ...latest, version: 1, data: v1Data };
    // Read as the newest version (v3, whose fence v2 did not state either).
    expect(continuityEvents.parse(v1)).toEqual({
      ...latest,
      version: 3,
      data: { ...v1Data, observations: null, decidedBy: null, lastHealthyAt: null, primaryLsn: null, fence: null },
    });
  });

  it('keeps a v1 event\'s reason, candidates and timings as published', () => {
    const { observations, decidedBy, lastHealthyAt, primaryLsn, fence, ...v1Data } = aFailoverTriggeredData({ toInstance: null, reason: 'no eligible standby' });
    const parsed = continuityEvents.parse({ ...anEvent('FailoverTriggered'), version: 1, data: v1Data });
    expect(parsed.data).toMatchObject(v1Data);
  });

  it('carries the observations behind the decision, and "none qualifies" with every candidate\'s reason', () => {
    const event = anEvent('FailoverTriggered');
    const data = aFailoverTriggeredData({
      toInstance: null,
      candidates: [{ instance: 'pg-b', lsn: '0/2000000', lagBytes: 16_777_312, eligible: false, reason: 'lag 16777312 bytes exceeds limit 65536' }],
    });
    expect(continuityEvents.parse({ ...event, data }).data).toEqual(data);
    expect(data.observations!.filter((o) => o.member === 'pg-a' && !o.reachable)).toHaveLength(3);
  });

  it('rejects a v2 event without the new fields, and an LSN that is not in PostgreSQL\'s text form', () => {
    const event = anEvent('FailoverTriggered');
    const { decidedBy, ...withoutDecider } = event.data;
    expect(() => continuityEvents.parse({ ...event, data: withoutDecider })).toThrow(ContractViolationError);
    expect(() => continuityEvents.parse({ ...event, data: { ...event.data, primaryLsn: '50331744' } })).toThrow(/primaryLsn/);
  });
});
