import { decide } from './failover.decider.js';
import { evolve, type FailoverEvent, initialState, isFenced } from './failover.state.js';
import { config, down, evaluate, failedOverToB, given, healthy, primaryFails3, primaryUp, probe, promoted, standby, started, switchoverTo, t } from '../testing/failover-decider.given.js';

describe('failover decider: epochs and the failover lifecycle', () => {
  it('increments the epoch with every failover', () => {
    given(...failedOverToB, standby('pg-c', 2000, '0/5000000'), down('pg-b', 2000), down('pg-b', 2500), down('pg-b', 3000), standby('pg-c', 3000, '0/5000000'))
      .when(evaluate(3000))
      .then({ type: 'failover', from: 'pg-b', to: 'pg-c', epoch: 2 });
  });

  it('continues from the epoch and primary the service started with', () => {
    const cfg = config;
    const state = [...healthy, ...primaryFails3()].reduce(evolve, initialState(cfg, { epoch: 7 }));
    expect(decide(state, evaluate(1500), cfg)).toMatchObject({ type: 'failover', epoch: 8 });
    expect(initialState(cfg, { primary: 'pg-b' }).primary).toBe('pg-b');
  });

  it('keeps the bumped epoch when a failover is abandoned, and may try again with the next one', () => {
    const abandoned: FailoverEvent = { type: 'FailoverAbandoned', epoch: 1, reason: 'pg_promote timed out', at: t(2000) };
    const events = [...healthy, ...primaryFails3(), started(1, 'pg-a', 'pg-b', 1510), abandoned, down('pg-a', 2500), standby('pg-b', 2500, '0/5000000')];
    const state = events.reduce(evolve, initialState(config));
    expect(state).toMatchObject({ primary: 'pg-a', epoch: 1, failover: null });
    expect(decide(state, evaluate(2500), config)).toMatchObject({ type: 'failover', epoch: 2, firstFailureAt: t(500) });
  });

  it('does not retry a standby whose promotion was abandoned in this outage: tries the next, then reports no candidate', () => {
    const abandoned = (epoch: number, ms: number): FailoverEvent => ({ type: 'FailoverAbandoned', epoch, reason: 'pg_promote returned false', at: t(ms) });
    const outage = [...healthy, ...primaryFails3(), started(1, 'pg-a', 'pg-b', 1510), abandoned(1, 1600), down('pg-a', 2000), standby('pg-b', 2000, '0/5000000'), standby('pg-c', 2000, '0/4FFFF00')];
    given(...outage)
      .when(evaluate(2000))
      .then({
        type: 'failover',
        to: 'pg-c',
        epoch: 2,
        candidates: [{ instance: 'pg-b', eligible: false, reason: 'its promotion at epoch 1 was abandoned in this outage (pg_promote returned false); not retried until the primary recovers' }, { instance: 'pg-c', eligible: true }],
      });
    given(...outage, started(2, 'pg-a', 'pg-c', 2010), abandoned(2, 2100), down('pg-a', 2500), standby('pg-b', 2500, '0/5000000'), standby('pg-c', 2500, '0/4FFFF00'))
      .when(evaluate(2500))
      .then({ type: 'no-candidate', epoch: 2 });
    // The outage ends: every standby is a candidate again for the next one.
    const recovered = [...outage, primaryUp('pg-a', 2500)].reduce(evolve, initialState(config));
    expect(recovered.abandoned).toEqual({});
  });

  it('makes the promoted standby the primary, with a fresh failure count', () => {
    const state = failedOverToB.reduce(evolve, initialState(config));
    expect(state).toMatchObject({ primary: 'pg-b', epoch: 1, consecutiveFailures: 0, firstFailureAt: null, failover: null, lastKnownPrimaryLsn: '0/5000000' });
    expect(isFenced(state, 'pg-a')).toBe(true);
  });

  it('is idempotent when the same event is delivered twice', () => {
    const once = [...healthy, down('pg-a', 500), down('pg-a', 1000)];
    const twice = [...healthy, down('pg-a', 500), down('pg-a', 500), down('pg-a', 1000), down('pg-a', 1000)];
    expect(twice.reduce(evolve, initialState(config))).toEqual(once.reduce(evolve, initialState(config)));

    const lifecycle = failedOverToB.reduce(evolve, initialState(config));
    const redelivered = [started(1, 'pg-a', 'pg-b', 1510), promoted(1, 'pg-b', 1900, '0/5000000')].reduce(evolve, lifecycle);
    expect(redelivered).toBe(lifecycle);
  });

  it('ignores a probe older than the latest one of that member', () => {
    const state = [...healthy, primaryUp('pg-a', 1000), down('pg-a', 600)].reduce(evolve, initialState(config));
    expect(state.consecutiveFailures).toBe(0);
  });
});

describe('failover decider: fencing a former primary', () => {
  const back = (ms: number, inRecovery = false) =>
    probe({ member: 'pg-a', at: t(ms), reachable: true, inRecovery, currentLsn: inRecovery ? undefined : '0/5000100', receiveLsn: inRecovery ? '0/9000000' : undefined });
  const fenceApplied = (reappearance: number, ms: number): FailoverEvent => ({ type: 'FenceApplied', member: 'pg-a', reappearance, at: t(ms) });

  it('does nothing about an old primary that stays away', () => {
    given(...failedOverToB, primaryUp('pg-b', 2000), down('pg-a', 2000)).when(evaluate(2000)).then({ type: 'none', reason: 'primary pg-b healthy' });
  });

  it('fences an old primary that comes back, once per reappearance', () => {
    const { decision } = given(...failedOverToB, primaryUp('pg-b', 2000), back(2000)).when(evaluate(2000));
    expect(decision).toEqual({
      type: 'fence',
      resource: 'orders-db',
      member: 'pg-a',
      formerEpoch: 0,
      epoch: 1,
      reappearance: 1,
      acceptsWrites: true,
      reason: 'former primary of epoch 0 came back and accepts writes; needs rewind or rebuild',
    });
    given(...failedOverToB, primaryUp('pg-b', 2000), back(2000), fenceApplied(1, 2010), back(2500))
      .when(evaluate(2500))
      .then({ type: 'none', reason: 'primary pg-b healthy' });
    // Gone again, then back: a new reappearance, fenced again.
    given(...failedOverToB, back(2000), fenceApplied(1, 2010), down('pg-a', 2500), back(3000, true))
      .when(evaluate(3000))
      .then({ type: 'fence', reappearance: 2, acceptsWrites: false, reason: 'former primary of epoch 0 came back; needs rewind or rebuild' });
  });

  it('fences an old primary that came back while the failover was still in progress', () => {
    given(...healthy, ...primaryFails3(), started(1, 'pg-a', 'pg-b', 1510), back(1600), promoted(1, 'pg-b', 1900))
      .when(evaluate(1900))
      .then({ type: 'fence', member: 'pg-a', reappearance: 1 });
  });

  it('never chooses a fenced old primary, however far ahead it is', () => {
    given(...failedOverToB, back(2000, true), fenceApplied(1, 2010), down('pg-b', 2500), down('pg-b', 3000), down('pg-b', 3500), back(3500, true), standby('pg-c', 3500, '0/5000000'))
      .when(evaluate(3500))
      .then({
        type: 'failover',
        from: 'pg-b',
        to: 'pg-c',
        candidates: [
          { instance: 'pg-a', lsn: '0/9000000', eligible: false, reason: 'fenced: former primary of epoch 0; needs rewind or rebuild' },
          { instance: 'pg-c', eligible: true },
        ],
      });
  });

  it('lets a rebuilt former primary be promoted again', () => {
    const rebuilt: FailoverEvent = { type: 'MemberRebuilt', member: 'pg-a', at: t(2020) };
    given(...failedOverToB, back(2000, true), fenceApplied(1, 2010), rebuilt, down('pg-b', 2500), down('pg-b', 3000), down('pg-b', 3500), back(3500, true), standby('pg-c', 3500, '0/5000000'))
      .when(evaluate(3500))
      .then({ type: 'failover', to: 'pg-a', epoch: 2 });
  });

  it('says a former primary that is already read-only does not accept writes (still fenced: it is on the old timeline)', () => {
    const readOnly = probe({ member: 'pg-a', at: t(2000), reachable: true, inRecovery: false, currentLsn: '0/5000100', readOnly: true });
    given(...failedOverToB, readOnly)
      .when(evaluate(2000))
      .then({ type: 'fence', member: 'pg-a', acceptsWrites: false, reason: 'former primary of epoch 0 came back (out of recovery but read-only); needs rewind or rebuild' });
  });

  it('fences the demoted primary after a planned switchover', () => {
    given(...healthy, started(1, 'pg-a', 'pg-b', 100, true), primaryUp('pg-a', 200), promoted(1, 'pg-b', 300))
      .when(evaluate(300))
      .then({ type: 'fence', member: 'pg-a', reason: 'former primary of epoch 0 (demoted by a planned switchover) is up and accepts writes; needs rewind or rebuild' });
  });
});

describe('failover decider: adopting the shared route record', () => {
  const route = (epoch: number, primary: string, fenced: { member: string; formerEpoch: number }[] = [], ms = 2000): FailoverEvent => ({
    type: 'RouteAdopted',
    epoch,
    primary,
    fenced: fenced.map((f) => ({ ...f, cause: 'failover' as const, fencedAt: t(ms - 100) })),
    at: t(ms),
  });

  it('follows a failover another instance carried out: new primary, epoch, fenced member, fresh count', () => {
    const state = [...healthy, down('pg-a', 500), down('pg-a', 1000), primaryUp('pg-b', 1900, '0/5000100'), route(1, 'pg-b', [{ member: 'pg-a', formerEpoch: 0 }])].reduce(
      evolve,
      initialState(config),
    );
    expect(state).toMatchObject({ primary: 'pg-b', epoch: 1, consecutiveFailures: 0, firstFailureAt: null, lastKnownPrimaryLsn: '0/5000100', failover: null });
    expect(isFenced(state, 'pg-a')).toBe(true);
    // The next failure is counted against the new primary, and the fenced one is never a candidate.
    given(...healthy, down('pg-a', 1000), route(1, 'pg-b', [{ member: 'pg-a', formerEpoch: 0 }]), primaryUp('pg-b', 2000), down('pg-b', 2500), down('pg-b', 3000), down('pg-b', 3500), standby('pg-c', 3500, '0/5000000'))
      .when(evaluate(3500))
      .then({ type: 'failover', from: 'pg-b', to: 'pg-c', epoch: 2, candidates: [{ instance: 'pg-a', eligible: false }, { instance: 'pg-c', eligible: true }] });
  });

  it('ignores an older route, and the route of its own failover while that is under way', () => {
    const lifecycle = failedOverToB.reduce(evolve, initialState(config));
    expect(evolve(lifecycle, route(0, 'pg-a'))).toBe(lifecycle);
    const inProgress = [...healthy, ...primaryFails3(), started(1, 'pg-a', 'pg-b', 1510)].reduce(evolve, initialState(config));
    expect(evolve(inProgress, route(1, 'pg-b', [{ member: 'pg-a', formerEpoch: 0 }]))).toBe(inProgress);
  });

  it('is idempotent when the same route is delivered twice, keeping what it saw of fenced members', () => {
    const back = probe({ member: 'pg-a', at: t(2000), reachable: true, inRecovery: false, currentLsn: '0/5000100' });
    const lifecycle = [...failedOverToB, back].reduce(evolve, initialState(config));
    const own = route(1, 'pg-b', [{ member: 'pg-a', formerEpoch: 0 }]);
    expect(evolve(lifecycle, own)).toBe(lifecycle);
    expect(evolve(evolve(lifecycle, own), own)).toBe(lifecycle);
  });

  it('lets a member rebuilt elsewhere (gone from the fenced list) be a candidate again', () => {
    const state = [...failedOverToB, route(1, 'pg-b', [])].reduce(evolve, initialState(config));
    expect(isFenced(state, 'pg-a')).toBe(false);
    expect(state.primary).toBe('pg-b');
  });

  it('fences a former primary that is up when the route is adopted (its writer may have died before fencing it)', () => {
    const back = probe({ member: 'pg-a', at: t(1900), reachable: true, inRecovery: false, currentLsn: '0/5000100' });
    given(...healthy, back, route(1, 'pg-b', [{ member: 'pg-a', formerEpoch: 0 }]), primaryUp('pg-b', 2000))
      .when(evaluate(2000))
      .then({ type: 'fence', member: 'pg-a', formerEpoch: 0, epoch: 1, reappearance: 1, acceptsWrites: true });
  });
});
