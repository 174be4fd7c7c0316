import { t } from '../testing/failover-decider.given.js';
import { rtoMs } from './rto.js';

describe('rtoMs', () => {
  it('measures from the first failed probe to routing', () => {
    expect(rtoMs({ firstFailureAt: t(0), detectedAt: t(1500), routedAt: t(2100) })).toBe(2100);
  });

  it('falls back to detection when there was no failed probe', () => {
    expect(rtoMs({ firstFailureAt: null, detectedAt: new Date(t(1500)), routedAt: new Date(t(2100)) })).toBe(600);
  });

  it('reads the ISO timestamps of the FailoverCompleted timeline', () => {
    expect(rtoMs({ firstFailureAt: '2026-11-26T09:00:00.000Z', detectedAt: '2026-11-26T09:00:01.500Z', routedAt: '2026-11-26T09:00:02.100Z' })).toBe(2100);
  });

  it('never goes negative, and rejects a time that is not one', () => {
    expect(rtoMs({ firstFailureAt: t(100), detectedAt: t(100), routedAt: t(0) })).toBe(0);
    expect(() => rtoMs({ firstFailureAt: null, detectedAt: 'yesterday', routedAt: t(0) })).toThrow('detectedAt is not a valid time');
  });
});
