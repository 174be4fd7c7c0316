import type { FailoverConfig } from '../config/failover-config.policy.js';
import type { FailoverEvent } from './failover.state.js';
import { config, down, evaluate, failedOverToB, given, healthy, LIMIT, primaryFails3, primarySync, primaryUp, probe, promoted, standby, started, switchoverTo, syncChanged, syncConfig, t } from '../testing/failover-decider.given.js';

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

describe('failover decider: synchronous mode (zero-loss failover)', () => {
  const SYNC_B = 'FIRST 1 ("pg-b")';
  // pg-b is the synchronous standby; pg-c has received more WAL (it is ahead, say, on a faster link).
  const syncOnB = [primarySync('pg-a', 0, SYNC_B, ['pg-b', 'pg-c'], 'pg-b'), standby('pg-b', 0, '0/4F00000'), standby('pg-c', 0, '0/5000000')];

  it('promotes only the synchronous standby, even when another has received more WAL', () => {
    given(...syncOnB, ...primaryFails3('0/4F00000', '0/5000000'))
      .when(evaluate(1500), syncConfig)
      .then({
        type: 'failover',
        to: 'pg-b',
        reason: expect.stringMatching(/; synchronous mode: only pg-b, the synchronous standby, holds every acknowledged commit$/),
        candidates: [
          { instance: 'pg-b', eligible: true, reason: 'the synchronous standby (lag 1048576 bytes)' },
          { instance: 'pg-c', eligible: false, reason: 'not the synchronous standby (pg-b is): it may lack acknowledged commits' },
        ],
      });
  });

  it('promotes the synchronous standby beyond the lag limit: what it lacks was never acknowledged', () => {
    const tight: FailoverConfig = { ...syncConfig, maxLagBytes: 1024 };
    given(...syncOnB, ...primaryFails3('0/4F00000', '0/5000000')).when(evaluate(1500), tight).then({ type: 'failover', to: 'pg-b', lagBytes: 1048576 });
  });

  it('promotes nothing when the synchronous standby is unavailable, and says why', () => {
    const { decision } = given(...syncOnB, down('pg-a', 500), down('pg-a', 1000), down('pg-a', 1500), down('pg-b', 1500), standby('pg-c', 1500, '0/5000000')).when(
      evaluate(1500),
      syncConfig,
    );
    expect(decision).toMatchObject({
      type: 'no-candidate',
      reason: expect.stringMatching(/; synchronous mode: only pg-b, the synchronous standby, holds every acknowledged commit; no eligible standby$/),
      candidates: [
        { instance: 'pg-b', eligible: false, reason: 'unreachable: connect ECONNREFUSED' },
        { instance: 'pg-c', eligible: false, reason: 'not the synchronous standby (pg-b is): it may lack acknowledged commits' },
      ],
    });
  });

  it('keeps to the last confirmed synchronous standby while commits wait for a newly named one', () => {
    // pg-b failed, the leader named pg-c, but pg-a died before pg-c was reported sync.
    given(...syncOnB, syncChanged('pg-a', 'pg-c', 200), primarySync('pg-a', 300, 'FIRST 1 ("pg-c")', ['pg-c']), down('pg-a', 500), down('pg-a', 1000), down('pg-a', 1500), down('pg-b', 1500), standby('pg-c', 1500, '0/5000000'))
      .when(evaluate(1500), syncConfig)
      .then({ type: 'no-candidate', candidates: [{ instance: 'pg-b', eligible: false }, { instance: 'pg-c', eligible: false, reason: expect.stringContaining('(pg-b is)') }] });
  });

  it('promotes nothing when no standby was ever confirmed synchronous', () => {
    given(primarySync('pg-a', 0, SYNC_B, ['pg-b']), standby('pg-b', 0, '0/5000000'), ...primaryFails3())
      .when(evaluate(1500), syncConfig)
      .then({ type: 'no-candidate', candidates: [{ instance: 'pg-b', reason: 'no standby confirmed synchronous: it may lack acknowledged commits' }, expect.anything()] });
  });

  it('after relaxation was announced, applies the lag rule and says acknowledged commits may be lost', () => {
    given(...syncOnB, syncChanged('pg-a', null, 700), ...primaryFails3('0/4F00000', '0/5000000'))
      .when(evaluate(1500), syncConfig)
      .then({
        type: 'failover',
        to: 'pg-c',
        reason: `primary pg-a failed 3 consecutive probes (threshold 3; last: connect ECONNREFUSED); synchronous replication was relaxed at ${new Date(t(700)).toISOString()}, so commits acknowledged since may be lost`,
      });
  });

  it('is the synchronous standby again only once the primary reports it sync after a relaxation', () => {
    const restored = [...syncOnB, syncChanged('pg-a', null, 700), syncChanged('pg-a', 'pg-b', 900)];
    given(...restored, ...primaryFails3('0/4F00000', '0/5000000')).when(evaluate(1500), syncConfig).then({ type: 'failover', to: 'pg-c', reason: expect.stringContaining('relaxed at') });
    given(...restored, primarySync('pg-a', 1000, SYNC_B, ['pg-b', 'pg-c'], 'pg-b'), down('pg-a', 1500), down('pg-a', 2000), down('pg-a', 2500), standby('pg-b', 2500, '0/4F00000'), standby('pg-c', 2500, '0/5000000'))
      .when(evaluate(2500), syncConfig)
      .then({ type: 'failover', to: 'pg-b' });
  });

  it('forgets the old primary\'s synchronous standby once another member is promoted', () => {
    const state = [...syncOnB, ...primaryFails3('0/4F00000', '0/5000000'), started(1, 'pg-a', 'pg-b', 1510), promoted(1, 'pg-b', 1900, '0/5000000')];
    given(...state, down('pg-b', 2000), down('pg-b', 2500), down('pg-b', 3000), standby('pg-c', 3000, '0/5000000'))
      .when(evaluate(3000), syncConfig)
      .then({ type: 'no-candidate', candidates: [{ instance: 'pg-a', eligible: false }, { instance: 'pg-c', reason: 'no standby confirmed synchronous: it may lack acknowledged commits' }] });
  });
});
