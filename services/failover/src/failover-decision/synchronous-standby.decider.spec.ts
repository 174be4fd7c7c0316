import { initialState, evolve, type FailoverEvent } from './failover.state.js';
import { decideSynchronousStandby } from './synchronous-standby.decider.js';
import { config, down, primarySync, standby, syncChanged, syncConfig, t } from '../testing/failover-decider.given.js';

const SYNC_B = 'FIRST 1 ("pg-b")';
const SYNC_C = 'FIRST 1 ("pg-c")';

/** given(facts).when(now).then(decision), for the synchronous standby decider. */
const given = (...events: FailoverEvent[]) => ({
  when: (ms: number, cfg = syncConfig) => {
    const decision = decideSynchronousStandby(events.reduce(evolve, initialState(cfg)), cfg, t(ms));
    return { decision, then: (expected: Record<string, unknown>) => expect(decision).toMatchObject(expected) };
  },
});

const standbysUp = (ms: number) => [standby('pg-b', ms, '0/5000000'), standby('pg-c', ms, '0/4FFFF00')];

describe('synchronous standby decider: naming a standby', () => {
  it('does nothing when the resource is not synchronous', () => {
    given(primarySync('pg-a', 0, '', ['pg-b', 'pg-c']), ...standbysUp(0)).when(0, config).then({ type: 'none', reason: 'synchronous mode is off' });
  });

  it('names the healthy standby that has received the most WAL when none is named', () => {
    const { decision } = given(primarySync('pg-a', 0, '', ['pg-b', 'pg-c']), ...standbysUp(0)).when(0);
    expect(decision).toEqual({
      type: 'set-synchronous-standby',
      resource: 'orders-db',
      primary: 'pg-a',
      epoch: 0,
      standby: 'pg-b',
      previous: null,
      setting: SYNC_B,
      alter: true,
      reason: 'pg-b streams to pg-a: commits wait for it again (synchronous replication restored)',
      standbys: [
        { member: 'pg-b', streaming: true, eligible: true, reason: 'streaming to pg-a' },
        { member: 'pg-c', streaming: true, eligible: true, reason: 'streaming to pg-a' },
      ],
    });
  });

  it('keeps a healthy named standby, announcing it once (a new leader finds it set)', () => {
    const set = [primarySync('pg-a', 0, SYNC_C, ['pg-b', 'pg-c'], 'pg-c'), ...standbysUp(0)];
    given(...set).when(0).then({ type: 'set-synchronous-standby', standby: 'pg-c', alter: false, reason: 'commits on pg-a wait for pg-c, which is streaming' });
    given(...set, syncChanged('pg-a', 'pg-c', 10)).when(10).then({ type: 'none', reason: 'commits wait for pg-c' });
  });

  it('moves to another healthy standby at once when the named one stops streaming or answering', () => {
    const named = [primarySync('pg-a', 0, SYNC_B, ['pg-b', 'pg-c'], 'pg-b'), ...standbysUp(0), syncChanged('pg-a', 'pg-b', 0)];
    given(...named, primarySync('pg-a', 500, SYNC_B, ['pg-c']), down('pg-b', 500), standby('pg-c', 500, '0/5000000'))
      .when(500)
      .then({ standby: 'pg-c', previous: 'pg-b', setting: SYNC_C, alter: true, reason: 'pg-b cannot be the synchronous standby (not connected to pg-a); commits wait for pg-c instead' });
    // Still streaming according to the primary, but our probe of it fails: not healthy either.
    given(...named, primarySync('pg-a', 500, SYNC_B, ['pg-b', 'pg-c'], 'pg-b'), down('pg-b', 500, 'no answer within 400 ms'), standby('pg-c', 500, '0/5000000'))
      .when(500)
      .then({ standby: 'pg-c', reason: expect.stringContaining('(unreachable: no answer within 400 ms)') });
  });

  it('leaves a standby still catching up out', () => {
    const catchingUp = { member: 'pg-a', at: t(0), reachable: true, inRecovery: false, currentLsn: '0/5000000', synchronousStandbyNames: '', replication: [{ name: 'pg-c', state: 'catchup', syncState: 'async' }] };
    given({ type: 'ProbeObserved', observation: catchingUp }, ...standbysUp(0), syncChanged('pg-a', null, 0))
      .when(0)
      .then({ type: 'none', reason: 'relaxed: no standby can be synchronous (pg-b: not connected to pg-a; pg-c: not streaming to pg-a (state catchup))' });
  });

  it('does nothing while the primary is failing or a failover is under way', () => {
    given(primarySync('pg-a', 0, SYNC_B, ['pg-b'], 'pg-b'), ...standbysUp(0), down('pg-a', 500))
      .when(500)
      .then({ type: 'none', reason: 'primary pg-a not seen healthy: synchronous replication left as it is' });
  });
});

describe('synchronous standby decider: relaxing and restoring', () => {
  const onlyB = [primarySync('pg-a', 0, SYNC_B, ['pg-b'], 'pg-b'), standby('pg-b', 0, '0/5000000'), syncChanged('pg-a', 'pg-b', 0)];
  const bGone = (ms: number) => [primarySync('pg-a', ms, SYNC_B, []), down('pg-b', ms)];

  it('keeps commits waiting for the named standby until relaxSynchronousAfterMs has passed with none to acknowledge them', () => {
    given(...onlyB, ...bGone(500)).when(500).then({ type: 'none', reason: expect.stringMatching(/^commits have waited 0 ms for pg-b .*relaxing at 1500 ms$/) });
    given(...onlyB, ...bGone(500), ...bGone(1500)).when(1500).then({ type: 'none', reason: expect.stringContaining('waited 1000 ms') });
  });

  it('relaxes once they have waited that long, saying why', () => {
    const { decision } = given(...onlyB, ...bGone(500), ...bGone(2000)).when(2000);
    expect(decision).toMatchObject({
      type: 'set-synchronous-standby',
      standby: null,
      previous: 'pg-b',
      setting: '',
      alter: true,
      reason:
        'no standby can acknowledge commits (pg-b: not connected to pg-a; pg-c: not connected to pg-a); commits waited 1500 ms (limit 1500 ms), so pg-a acknowledges them without a standby until one is back',
    });
  });

  it('does not relax while the named standby still acknowledges, though no other could take over', () => {
    given(...onlyB, primarySync('pg-a', 5000, SYNC_B, ['pg-b'], 'pg-b'), down('pg-b', 5000), down('pg-c', 5000))
      .when(5000)
      .then({ type: 'none', reason: expect.stringContaining('pg-b still acknowledges commits') });
  });

  it('restores as soon as a standby streams again, and stays relaxed quietly until then', () => {
    const relaxed = [...onlyB, ...bGone(500), ...bGone(2000), syncChanged('pg-a', null, 2010), primarySync('pg-a', 2500, '', [])];
    given(...relaxed).when(2500).then({ type: 'none', reason: expect.stringMatching(/^relaxed: no standby can be synchronous/) });
    given(...relaxed, primarySync('pg-a', 3000, '', ['pg-b']), standby('pg-b', 3000, '0/5000000'))
      .when(3000)
      .then({ standby: 'pg-b', previous: null, setting: SYNC_B, alter: true, reason: expect.stringContaining('synchronous replication restored') });
  });

  it('announces, without changing anything, a primary found relaxed (a new primary, or a new leader)', () => {
    given(primarySync('pg-a', 0, '', []), down('pg-b', 0), down('pg-c', 0))
      .when(0)
      .then({ type: 'set-synchronous-standby', standby: null, previous: null, alter: false, reason: expect.stringMatching(/^no standby can acknowledge commits/) });
  });
});
