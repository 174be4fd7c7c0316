import { continuityEvents } from '../events.js';
import { anEvent } from '../testing.js';

describe('FailoverCompleted v2', () => {
  it('reads a v1 event as v2, saying "not stated" for what v1 did not carry', () => {
    const v2 = anEvent('FailoverCompleted');
    const { planned, fromInstance, decidedBy, ...v1Data } = v2.data;
    const v1 = { ...v2, version: 1, data: v1Data };
    expect(continuityEvents.parse(v1)).toEqual({ ...v2, version: 2, data: { ...v1Data, planned: null, fromInstance: null, decidedBy: null } });
  });

  it('keeps what the audit projection reads (RTO, lag, timeline) through the upcast', () => {
    const { planned, fromInstance, decidedBy, ...v1Data } = anEvent('FailoverCompleted').data;
    const parsed = continuityEvents.parse({ ...anEvent('FailoverCompleted'), version: 1, data: v1Data });
    expect(parsed.data).toMatchObject({ rtoMs: v1Data.rtoMs, replicationLagBytes: v1Data.replicationLagBytes, timeline: v1Data.timeline, newPrimary: v1Data.newPrimary });
  });

  it('carries a planned switchover with its old primary and decider', () => {
    const event = anEvent('FailoverCompleted');
    const data = { ...event.data, planned: true, fromInstance: 'pg-b', newPrimary: 'pg-a', decidedBy: 'failover-2' };
    expect(continuityEvents.parse({ ...event, data }).data).toEqual(data);
  });
});
