import type { FenceCommandOutcome } from '@continuity/contracts';
import type { EpochRecord } from '../coordination/failover-store.js';
import { describeFenceOutcome, reusableFence } from './old-primary-fence.js';

const outcome = (over: Partial<FenceCommandOutcome> = {}): FenceCommandOutcome => ({
  member: 'pg-a',
  command: ['/usr/local/bin/stonith', 'db-a'],
  ran: true,
  epoch: 4,
  outcome: 'succeeded',
  exitCode: 0,
  signal: null,
  startedAt: '2026-11-26T09:00:01.000Z',
  durationMs: 120,
  required: true,
  output: '',
  ...over,
});
const attempt = (fence: EpochRecord['fence'], over: Partial<EpochRecord> = {}): EpochRecord => ({
  resource: 'orders-db',
  epoch: 4,
  from: 'pg-a',
  to: 'pg-b',
  planned: false,
  failoverId: '0190b3c4-0000-7000-8000-000000000000',
  takenAt: '2026-11-26T09:00:00.900Z',
  takenBy: 'failover-1',
  fence,
  ...over,
});

describe('a fence command already run in this outage', () => {
  it('is reused (not run again) when an earlier unrouted attempt from the same primary fenced it', () => {
    const previous = attempt({ member: 'pg-a', startedAt: '2026-11-26T09:00:01.000Z', outcome: outcome() });
    expect(reusableFence(previous, 'pg-a', 3)).toEqual({ ...outcome(), ran: false });
  });

  it('is run again when it did not succeed, never finished, was for another primary, or its epoch was routed since', () => {
    const started = { member: 'pg-a', startedAt: '2026-11-26T09:00:01.000Z' };
    expect(reusableFence(attempt({ ...started, outcome: outcome({ outcome: 'failed', exitCode: 1 }) }), 'pg-a', 3)).toBeNull();
    expect(reusableFence(attempt({ ...started, outcome: null }), 'pg-a', 3)).toBeNull();
    expect(reusableFence(attempt({ ...started, outcome: outcome() }), 'pg-b', 3)).toBeNull();
    expect(reusableFence(attempt({ ...started, outcome: outcome() }), 'pg-a', 4)).toBeNull();
    expect(reusableFence(attempt(undefined), 'pg-a', 3)).toBeNull();
    expect(reusableFence(null, 'pg-a', 3)).toBeNull();
  });

  it('is described for reasons and logs', () => {
    expect(describeFenceOutcome(outcome())).toBe('succeeded (exit 0) in 120 ms');
    expect(describeFenceOutcome(outcome({ outcome: 'failed', exitCode: 3 }))).toBe('failed (exit 3) in 120 ms');
    expect(describeFenceOutcome(outcome({ outcome: 'timed-out', exitCode: null, signal: 'SIGKILL', durationMs: 1000 }))).toBe('timed out after 1000 ms (killed)');
    expect(describeFenceOutcome(outcome({ outcome: 'not-started', exitCode: null, output: 'could not run /x: spawn /x ENOENT' }))).toBe('could not be started (could not run /x: spawn /x ENOENT)');
  });
});
