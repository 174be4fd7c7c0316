import {
  decide,
  evolve,
  FailoverCommand,
  FailoverConfig,
  FailoverDecision,
  FailoverEvent,
  initialState,
  InvalidFailoverConfigError,
  InvalidLsnError,
  isFenced,
  lsnDiffBytes,
  Observation,
  parseLsn,
  resolveFailoverConfig,
  rtoMs,
} from './failover.decider.js';

const T0 = Date.parse('2026-11-26T09:00:00.000Z');
const t = (ms: number) => T0 + ms;
const LIMIT = 16 * 1024 * 1024; // 16777216: one WAL segment

const config = resolveFailoverConfig({
  resource: 'orders-db',
  members: [
    { name: 'pg-a', role: 'primary' },
    { name: 'pg-b', role: 'standby' },
    { name: 'pg-c', role: 'standby' },
  ],
  maxLagBytes: LIMIT,
  mode: 'automatic',
});

// ─── facts ───
const probe = (observation: Observation): FailoverEvent => ({ type: 'ProbeObserved', observation });
const primaryUp = (member: string, ms: number, currentLsn = '0/5000000') =>
  probe({ member, at: t(ms), reachable: true, inRecovery: false, currentLsn });
const down = (member: string, ms: number, error = 'connect ECONNREFUSED') =>
  probe({ member, at: t(ms), reachable: false, error });
const standby = (member: string, ms: number, receiveLsn: string, replayLsn = receiveLsn) =>
  probe({ member, at: t(ms), reachable: true, inRecovery: true, receiveLsn, replayLsn });
const started = (epoch: number, from: string, to: string, ms: number, planned = false): FailoverEvent => ({
  type: 'FailoverStarted',
  epoch,
  from,
  to,
  planned,
  at: t(ms),
});
const promoted = (epoch: number, member: string, ms: number, lsn?: string): FailoverEvent => ({
  type: 'PromotionSucceeded',
  epoch,
  member,
  at: t(ms),
  lsn,
});

// ─── commands ───
const evaluate = (ms: number): FailoverCommand => ({ type: 'Evaluate', now: t(ms) });
const switchoverTo = (to: string, ms: number): FailoverCommand => ({ type: 'RequestSwitchover', to, now: t(ms) });

/** given(facts).when(command).then(decision) */
const given = (...events: FailoverEvent[]) => ({
  when: (command: FailoverCommand, cfg: FailoverConfig = config) => {
    const decision = decide(events.reduce(evolve, initialState(cfg)), command, cfg);
    return {
      decision,
      then: (expected: Partial<FailoverDecision> | Record<string, unknown>) => expect(decision).toMatchObject(expected),
    };
  },
});

// A healthy cluster at time 0: pg-b fully caught up, pg-c 256 bytes behind.
const healthy = [primaryUp('pg-a', 0), standby('pg-b', 0, '0/5000000'), standby('pg-c', 0, '0/4FFFF00')];
/** The primary fails three probes in a row (500, 1000, 1500); standbys probed alongside. */
const primaryFails3 = (b = '0/5000000', c = '0/4FFFF00') => [
  down('pg-a', 500),
  down('pg-a', 1000),
  down('pg-a', 1500),
  standby('pg-b', 1500, b),
  standby('pg-c', 1500, c),
];
/** pg-a → pg-b at epoch 1, completed. */
const failedOverToB = [...healthy, ...primaryFails3(), started(1, 'pg-a', 'pg-b', 1510), promoted(1, 'pg-b', 1900, '0/5000000')];

describe('failover decider: detecting a failed primary', () => {
  it('does nothing while the primary is healthy', () => {
    given(...healthy).when(evaluate(0)).then({ type: 'none', reason: 'primary pg-a healthy' });
  });

  it('does nothing before the primary has been probed', () => {
    given().when(evaluate(0)).then({ type: 'none', reason: 'primary pg-a not probed yet' });
  });

  it('waits after 2 of 3 failed probes, and says so', () => {
    given(...healthy, down('pg-a', 500), down('pg-a', 1000))
      .when(evaluate(1000))
      .then({ type: 'none', reason: 'primary pg-a failed 2/3 probes (last: connect ECONNREFUSED)' });
  });

  it('fails over to the most up-to-date standby after 3 failed probes', () => {
    const { decision } = given(...healthy, ...primaryFails3()).when(evaluate(1500));
    expect(decision).toEqual({
      type: 'failover',
      resource: 'orders-db',
      from: 'pg-a',
      to: 'pg-b',
      epoch: 1,
      reason: 'primary pg-a failed 3 consecutive probes (threshold 3; last: connect ECONNREFUSED)',
      firstFailureAt: t(500),
      detectedAt: t(1500),
      primaryLsn: '0/5000000',
      lagBytes: 0,
      candidates: [
        { instance: 'pg-b', lsn: '0/5000000', lagBytes: 0, eligible: true, reason: 'most up-to-date eligible standby (lag 0 bytes)' },
        { instance: 'pg-c', lsn: '0/4FFFF00', lagBytes: 256, eligible: true, reason: 'eligible (lag 256 bytes); pg-b has received more WAL' },
      ],
    });
  });

  it('resets the count on a reachable probe, so a stall shorter than the threshold (SIGSTOP … SIGCONT) causes no failover', () => {
    const stall = [down('pg-a', 500, 'probe timeout'), down('pg-a', 1000, 'probe timeout'), primaryUp('pg-a', 1500)];
    given(...healthy, ...stall).when(evaluate(1500)).then({ type: 'none', reason: 'primary pg-a healthy' });
    given(...healthy, ...stall, down('pg-a', 2000), down('pg-a', 2500))
      .when(evaluate(2500))
      .then({ type: 'none', reason: expect.stringContaining('failed 2/3 probes') });
    // The outage that does reach the threshold is dated from its own first failure, not the stall's.
    given(...healthy, ...stall, down('pg-a', 2000), down('pg-a', 2500), down('pg-a', 3000), standby('pg-b', 3000, '0/5000000'))
      .when(evaluate(3000))
      .then({ type: 'failover', to: 'pg-b', firstFailureAt: t(2000) });
  });

  it('counts a primary that reports pg_is_in_recovery = true as failed', () => {
    const inRecovery = (ms: number) => probe({ member: 'pg-a', at: t(ms), reachable: true, inRecovery: true, replayLsn: '0/5000000' });
    given(...healthy, inRecovery(500), inRecovery(1000), inRecovery(1500), standby('pg-b', 1500, '0/5000000'))
      .when(evaluate(1500))
      .then({ type: 'failover', to: 'pg-b', reason: expect.stringContaining('pg_is_in_recovery = true') });
  });

  it('does nothing in manual mode, saying that the primary failed', () => {
    const manual: FailoverConfig = { ...config, mode: 'manual' };
    given(...healthy, ...primaryFails3())
      .when(evaluate(1500), manual)
      .then({ type: 'none', reason: expect.stringMatching(/failed 3 consecutive probes.*mode is manual/) });
  });

  it('does nothing while a failover is already in progress', () => {
    given(...healthy, ...primaryFails3(), started(1, 'pg-a', 'pg-b', 1510), down('pg-a', 2000))
      .when(evaluate(2000))
      .then({ type: 'none', reason: 'failover already in progress (epoch 1: pg-a → pg-b)' });
  });

  it('honours a custom threshold', () => {
    const patient: FailoverConfig = { ...config, failuresBeforeFailover: 4 };
    given(...healthy, ...primaryFails3()).when(evaluate(1500), patient).then({ reason: expect.stringContaining('failed 3/4 probes') });
  });
});

describe('failover decider: choosing a standby', () => {
  it('prefers the highest receive LSN over a higher replay LSN', () => {
    given(...healthy, ...primaryFails3(), standby('pg-b', 1501, '0/4000000', '0/4000000'), standby('pg-c', 1501, '0/4800000', '0/3000000'))
      .when(evaluate(1501))
      .then({ type: 'failover', to: 'pg-c' });
  });

  it('breaks a tie on receive LSN by replay LSN', () => {
    const { decision } = given(
      ...healthy,
      ...primaryFails3(),
      standby('pg-b', 1501, '0/5000000', '0/4000000'),
      standby('pg-c', 1501, '0/5000000', '0/4FF0000'),
    ).when(evaluate(1501));
    expect(decision).toMatchObject({ type: 'failover', to: 'pg-c' });
    expect(decision).toHaveProperty(['candidates', 0, 'reason'], 'eligible (lag 0 bytes); same receive LSN as pg-c, which has replayed more');
  });

  it('breaks a tie on both LSNs by name', () => {
    const { decision } = given(...healthy, ...primaryFails3('0/5000000', '0/5000000')).when(evaluate(1500));
    expect(decision).toMatchObject({ type: 'failover', to: 'pg-b' });
    expect(decision).toHaveProperty(['candidates', 1, 'reason'], 'eligible (lag 0 bytes); tied with pg-b on LSNs, which sorts first by name');
  });

  it('excludes a standby lagging beyond maxLagBytes, with its lag, and takes the next', () => {
    given(...healthy, ...primaryFails3('0/2000000', '0/4FFFF00'))
      .when(evaluate(1500))
      .then({
        type: 'failover',
        to: 'pg-c',
        lagBytes: 256,
        candidates: [
          { instance: 'pg-b', lsn: '0/2000000', lagBytes: 50331648, eligible: false, reason: 'lag 50331648 bytes exceeds limit 16777216' },
          { instance: 'pg-c', eligible: true },
        ],
      });
  });

  it('accepts a standby exactly at the lag limit', () => {
    given(...healthy, ...primaryFails3('0/4000000', '0/1000000'))
      .when(evaluate(1500))
      .then({ type: 'failover', to: 'pg-b', lagBytes: LIMIT });
  });

  it('excludes an unreachable standby with the error', () => {
    given(...healthy, ...primaryFails3(), down('pg-b', 1501, 'timeout after 250 ms'))
      .when(evaluate(1501))
      .then({
        type: 'failover',
        to: 'pg-c',
        candidates: [{ instance: 'pg-b', eligible: false, reason: 'unreachable: timeout after 250 ms' }, { instance: 'pg-c', eligible: true }],
      });
  });

  it('excludes a standby whose latest probe is stale', () => {
    given(...healthy, down('pg-a', 500), down('pg-a', 1000), down('pg-a', 1500), standby('pg-c', 1500, '0/4FFFF00'))
      .when(evaluate(2000))
      .then({
        type: 'failover',
        to: 'pg-c',
        candidates: [{ instance: 'pg-b', eligible: false, reason: 'latest probe is 2000 ms old (limit 1500 ms)' }, { instance: 'pg-c' }],
      });
  });

  it('excludes a "standby" that is not in recovery (already promoted by someone else)', () => {
    given(...healthy, ...primaryFails3(), probe({ member: 'pg-b', at: t(1501), reachable: true, inRecovery: false, currentLsn: '0/6000000' }))
      .when(evaluate(1501))
      .then({ to: 'pg-c', candidates: [{ instance: 'pg-b', eligible: false, reason: 'not in recovery (pg_is_in_recovery = false): not a standby' }, {}] });
  });

  it('excludes a standby reporting a malformed LSN, naming it', () => {
    given(...healthy, ...primaryFails3('0/5000000', 'garbage'))
      .when(evaluate(1500))
      .then({ to: 'pg-b', candidates: [{}, { instance: 'pg-c', eligible: false, reason: expect.stringContaining('invalid LSN "garbage"') }] });
  });

  it('reports no-candidate, with every reason, when no standby qualifies; and does not promote', () => {
    const { decision } = given(...healthy, ...primaryFails3('0/2000000'), down('pg-c', 1501, 'no route to host')).when(evaluate(1501));
    expect(decision).toEqual({
      type: 'no-candidate',
      resource: 'orders-db',
      from: 'pg-a',
      epoch: 0,
      reason: 'primary pg-a failed 3 consecutive probes (threshold 3; last: connect ECONNREFUSED); no eligible standby',
      firstFailureAt: t(500),
      detectedAt: t(1501),
      candidates: [
        { instance: 'pg-b', lsn: '0/2000000', lagBytes: 50331648, eligible: false, reason: 'lag 50331648 bytes exceeds limit 16777216' },
        { instance: 'pg-c', lsn: null, lagBytes: null, eligible: false, reason: 'unreachable: no route to host' },
      ],
    });
  });

  it('reports no-candidate once per outage, and still fails over if a standby later qualifies', () => {
    const outage = [...healthy, ...primaryFails3('0/2000000', '0/2000000')];
    const reported: FailoverEvent = { type: 'NoCandidateReported', firstFailureAt: t(500), at: t(1510) };
    given(...outage).when(evaluate(1500)).then({ type: 'no-candidate' });
    given(...outage, reported, down('pg-a', 2000))
      .when(evaluate(2000))
      .then({ type: 'none', reason: expect.stringContaining('no eligible standby (already reported)') });
    given(...outage, reported, down('pg-a', 2000), standby('pg-c', 2000, '0/4800000'))
      .when(evaluate(2000))
      .then({ type: 'failover', to: 'pg-c', epoch: 1, firstFailureAt: t(500), detectedAt: t(2000) });
  });

  it('does not promote blindly when the primary never reported its LSN (lag unknown)', () => {
    const noLsn = probe({ member: 'pg-a', at: t(0), reachable: true, inRecovery: false });
    given(noLsn, ...primaryFails3())
      .when(evaluate(1500))
      .then({ type: 'no-candidate', candidates: [{ eligible: false, reason: 'lag unknown: no WAL position known for primary pg-a' }, { eligible: false }] });
  });
});

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

describe('failover decider: planned switchover', () => {
  it('switches over to a reachable standby, waiting for the primary’s current LSN', () => {
    given(...healthy, primaryUp('pg-a', 400, '0/5000200'), standby('pg-c', 400, '0/5000100'))
      .when(switchoverTo('pg-c', 400))
      .then({
        type: 'switchover',
        resource: 'orders-db',
        from: 'pg-a',
        to: 'pg-c',
        epoch: 1,
        targetLsn: '0/5000200',
        lagBytes: 256,
        requestedAt: t(400),
        reason: 'planned switchover pg-a → pg-c requested',
        candidates: [
          { instance: 'pg-b', eligible: true, reason: 'eligible (lag 512 bytes); not the requested target' },
          { instance: 'pg-c', eligible: true, reason: 'requested switchover target (lag 256 bytes)' },
        ],
      });
  });

  it('accepts a lagging target: it catches up before promotion, so nothing is lost', () => {
    given(...healthy, standby('pg-b', 100, '0/1000000')).when(switchoverTo('pg-b', 100)).then({ type: 'switchover', to: 'pg-b', lagBytes: 0x4000000 });
  });

  it.each<[string, FailoverEvent[], string, Record<string, unknown>]>([
    ['to an unknown member', healthy, 'pg-z', { code: 'SWITCHOVER.UNKNOWN_MEMBER', reason: 'pg-z is not a member of orders-db' }],
    ['to the primary itself', healthy, 'pg-a', { code: 'SWITCHOVER.ALREADY_PRIMARY', reason: 'pg-a is already the primary' }],
    ['to an unreachable standby', [...healthy, down('pg-b', 100, 'timeout')], 'pg-b', { code: 'SWITCHOVER.TARGET_NOT_ELIGIBLE', reason: 'pg-b cannot take over: unreachable: timeout' }],
    [
      'to a member not in recovery',
      [...healthy, probe({ member: 'pg-b', at: t(100), reachable: true, inRecovery: false, currentLsn: '0/5000000' })],
      'pg-b',
      { code: 'SWITCHOVER.TARGET_NOT_ELIGIBLE', reason: expect.stringContaining('not in recovery') },
    ],
    ['while the primary is failing', [...healthy, down('pg-a', 100)], 'pg-b', { code: 'SWITCHOVER.PRIMARY_UNHEALTHY', reason: expect.stringContaining('pg-a is not: it failed its latest 1 probe(s)') }],
    ['while a failover is in progress', [...healthy, started(1, 'pg-a', 'pg-b', 50)], 'pg-c', { code: 'SWITCHOVER.FAILOVER_IN_PROGRESS' }],
    [
      'when the primary’s LSN is unknown',
      [probe({ member: 'pg-a', at: t(0), reachable: true, inRecovery: false }), standby('pg-b', 0, '0/5000000')],
      'pg-b',
      { code: 'SWITCHOVER.PRIMARY_LSN_UNKNOWN' },
    ],
  ])('rejects a switchover %s', (_what, events, to, expected) => {
    given(...events).when(switchoverTo(to, 100)).then({ type: 'rejected', ...expected });
  });

  it('rejects a switchover to a fenced former primary', () => {
    given(...failedOverToB, primaryUp('pg-b', 2000), standby('pg-a', 2000, '0/5000000'))
      .when(switchoverTo('pg-a', 2000))
      .then({ type: 'rejected', code: 'SWITCHOVER.TARGET_NOT_ELIGIBLE', reason: 'pg-a cannot take over: fenced: former primary of epoch 0; needs rewind or rebuild' });
  });
});

describe('parseLsn / lsnDiffBytes', () => {
  it('parses PostgreSQL text LSNs', () => {
    expect(parseLsn('0/3000060')).toBe(0x3000060n);
    expect(parseLsn('16/B374D848')).toBe(0x16b374d848n);
    expect(parseLsn('16/b374d848')).toBe(0x16b374d848n);
    expect(parseLsn('0/0')).toBe(0n);
    expect(parseLsn('FFFFFFFF/FFFFFFFF')).toBe(2n ** 64n - 1n);
  });

  it.each(['', '3000060', '0/', '/1', 'G/1', '0/1/2', ' 0/1', '0x0/1', '-1/0', '123456789/0', '0/123456789'])(
    'rejects %j, naming the value',
    (bad) => {
      expect(() => parseLsn(bad)).toThrow(InvalidLsnError);
      expect(() => parseLsn(bad)).toThrow(`invalid LSN ${JSON.stringify(bad)}`);
    },
  );

  it('rejects a non-string', () => {
    expect(() => parseLsn(undefined as unknown as string)).toThrow('invalid LSN undefined');
  });

  it('measures bytes between positions like pg_wal_lsn_diff', () => {
    expect(lsnDiffBytes('0/5000000', '0/2000000')).toBe(50331648n);
    expect(lsnDiffBytes('0/2000000', '0/5000000')).toBe(-50331648n);
    expect(lsnDiffBytes('1/0', '0/FFFFFFFF')).toBe(1n);
    expect(() => lsnDiffBytes('0/1', 'nope')).toThrow('invalid LSN "nope"');
  });
});

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

describe('resolveFailoverConfig', () => {
  it('applies the defaults', () => {
    expect(config).toMatchObject({ probeIntervalMs: 500, failuresBeforeFailover: 3, staleAfterMs: 1500 });
  });

  it('lists every problem of an unusable configuration', () => {
    const bad = () =>
      resolveFailoverConfig({
        resource: 'orders-db',
        members: [
          { name: 'pg-a', role: 'standby' },
          { name: 'pg-a', role: 'standby' },
        ],
        failuresBeforeFailover: 0,
        maxLagBytes: -1,
        mode: 'automatic',
      });
    expect(bad).toThrow(InvalidFailoverConfigError);
    expect(bad).toThrow(/duplicate member names: pg-a.*exactly one member must have role 'primary' \(found 0\).*failuresBeforeFailover.*maxLagBytes/);
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
