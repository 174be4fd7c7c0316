import { ContractViolationError } from '../errors.js';
import { continuityEvents } from '../events.js';
import { aFailoverTriggeredData, anEvent } from '../testing.js';

const aFence = {
  member: 'pg-a',
  command: ['/usr/local/bin/stonith', '--node', 'db-a'],
  ran: true,
  epoch: 2,
  outcome: 'succeeded' as const,
  exitCode: 0,
  signal: null,
  startedAt: '2026-11-26T09:00:01.600Z',
  durationMs: 850,
  required: true,
  output: 'db-a powered off',
};

describe('FailoverTriggered v3', () => {
  it('reads v2 and v1 events as v3, the fence "not stated"', () => {
    const v3 = anEvent('FailoverTriggered');
    const { fence, ...v2Data } = v3.data;
    expect(continuityEvents.parse({ ...v3, version: 2, data: v2Data })).toEqual({ ...v3, version: 3, data: { ...v2Data, fence: null } });
    const { observations, decidedBy, lastHealthyAt, primaryLsn, ...v1Data } = v2Data;
    expect(continuityEvents.parse({ ...v3, version: 1, data: v1Data }).data).toEqual({ ...v1Data, observations: null, decidedBy: null, lastHealthyAt: null, primaryLsn: null, fence: null });
  });

  it('carries the fence command\'s outcome', () => {
    const event = anEvent('FailoverTriggered');
    const data = aFailoverTriggeredData({ fence: aFence });
    expect(continuityEvents.parse({ ...event, data }).data).toEqual({ ...data, fence: aFence });
    const timedOut = { ...aFence, outcome: 'timed-out' as const, exitCode: null, signal: 'SIGKILL' };
    expect(continuityEvents.parse({ ...event, data: { ...data, fence: timedOut } }).data).toMatchObject({ fence: timedOut });
  });

  it('rejects a v3 event without the field, and an outcome it does not know', () => {
    const event = anEvent('FailoverTriggered');
    const { fence, ...withoutFence } = event.data;
    expect(() => continuityEvents.parse({ ...event, data: withoutFence })).toThrow(ContractViolationError);
    expect(() => continuityEvents.parse({ ...event, data: { ...event.data, fence: { ...aFence, outcome: 'maybe' } } })).toThrow(/fence\.outcome/);
  });
});
