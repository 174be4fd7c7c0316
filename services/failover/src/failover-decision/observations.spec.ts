import { FailoverObservationSchema } from '@continuity/contracts';
import { resolveFailoverConfig } from '../config/failover-config.policy.js';
import type { Observation } from '../probing/observation.js';
import { evolve, FailoverState, initialState, RecordedObservation } from './failover.state.js';
import { keepFailedPrimaryProbes, MAX_FAILED_PROBES_KEPT, observationRecord, observationsBehind } from './observations.js';

const T0 = Date.parse('2026-11-26T09:00:00.000Z');
const config = resolveFailoverConfig({
  resource: 'orders-db',
  members: [
    { name: 'pg-a', role: 'primary' },
    { name: 'pg-b', role: 'standby' },
    { name: 'pg-c', role: 'standby' },
  ],
  maxLagBytes: 1024,
  mode: 'automatic',
});
const members = config.members.map((m) => m.name);

const primaryUp = (ms: number): Observation => ({ member: 'pg-a', at: T0 + ms, reachable: true, inRecovery: false, currentLsn: '0/5000000' });
const down = (ms: number): Observation => ({ member: 'pg-a', at: T0 + ms, reachable: false, error: 'connect ECONNREFUSED 127.0.0.1:5432' });
const standby = (member: string, ms: number): Observation => ({ member, at: T0 + ms, reachable: true, inRecovery: true, receiveLsn: '0/5000000', replayLsn: '0/4FFFF00' });

/** Folds probes as the supervisor does, keeping the primary's failed probes. */
const run = (probes: Observation[]) => {
  let state: FailoverState = initialState(config);
  let kept: RecordedObservation[] = [];
  for (const observation of probes) {
    const before = state.observations[observation.member];
    state = evolve(state, { type: 'ProbeObserved', observation });
    const after = state.observations[observation.member];
    kept = keepFailedPrimaryProbes(kept, state, after !== before ? (after ?? null) : null);
  }
  return { state, kept };
};

describe('observations published with a decision', () => {
  it('states an unreachable probe as unreachable with its error, and nothing it could not report', () => {
    const record = observationRecord({ ...down(0), at: T0 });
    expect(record).toEqual({
      member: 'pg-a',
      at: '2026-11-26T09:00:00.000Z',
      reachable: false,
      inRecovery: null,
      readOnly: null,
      currentLsn: null,
      receiveLsn: null,
      replayLsn: null,
      error: 'connect ECONNREFUSED 127.0.0.1:5432',
    });
    expect(FailoverObservationSchema.parse(record)).toEqual(record);
    expect(observationRecord({ ...standby('pg-b', 0), at: T0 })).toMatchObject({ reachable: true, inRecovery: true, readOnly: false, receiveLsn: '0/5000000', replayLsn: '0/4FFFF00', error: null });
  });

  it('lists each of the failed primary\'s consecutive failed probes, then every other member\'s latest probe', () => {
    const { state, kept } = run([primaryUp(0), standby('pg-b', 0), down(500), standby('pg-b', 500), down(1000), standby('pg-b', 1000), down(1500), standby('pg-b', 1500)]);
    const observations = observationsBehind(state, members, 'pg-a', kept);
    expect(observations.map((o) => [o.member, o.at, o.reachable])).toEqual([
      ['pg-a', '2026-11-26T09:00:00.500Z', false],
      ['pg-a', '2026-11-26T09:00:01.000Z', false],
      ['pg-a', '2026-11-26T09:00:01.500Z', false],
      ['pg-b', '2026-11-26T09:00:01.500Z', true],
    ]); // pg-c was never probed: absent
  });

  it('forgets failed probes once the primary answers again (a stall is not part of the next outage)', () => {
    const { state, kept } = run([primaryUp(0), down(500), down(1000), primaryUp(1500), down(2000)]);
    expect(kept.map((o) => o.at)).toEqual([T0 + 2000]);
    expect(observationsBehind(state, members, 'pg-a', kept).filter((o) => o.member === 'pg-a')).toHaveLength(1);
  });

  it('keeps only the latest failed probes of a long outage, and ignores a redelivered one', () => {
    const probes = [primaryUp(0), ...Array.from({ length: MAX_FAILED_PROBES_KEPT + 5 }, (_, i) => down(500 * (i + 1)))];
    const { state, kept } = run([...probes, down(500)]);
    expect(kept).toHaveLength(MAX_FAILED_PROBES_KEPT);
    expect(kept[kept.length - 1]!.at).toBe(T0 + 500 * (MAX_FAILED_PROBES_KEPT + 5));
    expect(state.consecutiveFailures).toBe(MAX_FAILED_PROBES_KEPT + 5);
  });

  it('gives the latest probe of a healthy primary (a switchover)', () => {
    const { state, kept } = run([primaryUp(0), standby('pg-b', 0), standby('pg-c', 0), primaryUp(500)]);
    expect(observationsBehind(state, members, 'pg-a', kept).map((o) => [o.member, o.at])).toEqual([
      ['pg-a', '2026-11-26T09:00:00.500Z'],
      ['pg-b', '2026-11-26T09:00:00.000Z'],
      ['pg-c', '2026-11-26T09:00:00.000Z'],
    ]);
  });
});
