import { anEvent, aFailoverCompletedData, aRestorePerformedData } from '@continuity/contracts/testing';
import { continuityEvents } from '@continuity/contracts';
import { at, atDate, dump, entry, fold, resetLog, verifiedBackup } from '../../test/findings-fixtures.js';
import { DEFAULT_SLO_TARGETS, ResourceState } from '../resource-state/resource-state.projection.js';
import { decideSlos, measureSlos, nextSloChange } from './slo.decider.js';

const targets = { ...DEFAULT_SLO_TARGETS, rpoMs: 5 * 60_000, rtoMs: 30_000 };

/** What the ledger folds back when the emitter's events arrive. */
const announce = (state: ResourceState, minute: number) => {
  const d = decideSlos(state, atDate(minute), targets);
  return fold(
    [...d.breach.map((data) => entry('SloBreached', data, minute)), ...d.restore.map((data) => entry('SloRestored', data, minute))],
    state,
  );
};

describe('decideSlos', () => {
  beforeEach(resetLog);

  it('given backups that stop, opens an RPO breach once exposure crosses the target, from the clock alone', () => {
    const state = fold(verifiedBackup(dump(0), 0));
    expect(decideSlos(state, atDate(4.9), targets).breach).toEqual([]);
    const { breach } = decideSlos(state, atDate(5.5), targets);
    expect(breach).toHaveLength(1);
    expect(breach[0]).toMatchObject({ kind: 'rpo', measured: 5.5 * 60_000, target: 5 * 60_000, unit: 'ms', since: at(5) });
    expect(breach[0]!.evidence).toEqual([state.protection!.verifiedEventId]);
    // The breach id is a valid event id: it is the SloBreached event's id.
    expect(() => continuityEvents.parse(anEvent('SloBreached', { id: breach[0]!.breachId, data: breach[0]! }))).not.toThrow();
  });

  it('derives the same breach id on every evaluation and instance, and opens nothing while it is open', () => {
    const state = fold(verifiedBackup(dump(0), 0));
    const first = decideSlos(state, atDate(6), targets).breach[0]!;
    expect(decideSlos(state, atDate(9), targets).breach[0]!.breachId).toBe(first.breachId);
    const open = announce(state, 6);
    expect(open.protection?.openSlo.rpo?.id).toBe(first.breachId);
    expect(decideSlos(open, atDate(20), targets)).toEqual({ breach: [], restore: [] });
  });

  it('closes the breach after the next verified backup, and a later breach gets a new id', () => {
    const open = announce(fold(verifiedBackup(dump(0), 0)), 6);
    const breachId = open.protection!.openSlo.rpo!.id;
    const recovered = fold(verifiedBackup(dump(10), 10), open);
    const { restore } = decideSlos(recovered, atDate(11.5), targets);
    expect(restore).toEqual([expect.objectContaining({ breachId, kind: 'rpo', breachedAt: at(5), restoredAt: at(11.5), measured: 1.5 * 60_000 })]);
    const closed = announce(recovered, 11.5);
    expect(closed.protection?.openSlo).toEqual({});
    const again = decideSlos(closed, atDate(16), targets).breach[0]!;
    expect(again.breachId).not.toBe(breachId);
  });

  it('a resource that was never backed up has no RPO objective to breach', () => {
    const state = fold([entry('FailoverCompleted', aFailoverCompletedData({ rtoMs: 1_000 }), 0)]);
    expect(decideSlos(state, atDate(60), targets).breach.map((b) => b.kind)).not.toContain('rpo');
  });

  it('opens an RTO breach for a failover over target and closes it when a later recovery is within it', () => {
    const slow = fold([entry('FailoverCompleted', aFailoverCompletedData({ rtoMs: 45_000 }), 0)]);
    expect(decideSlos(slow, atDate(1), targets).breach).toEqual(expect.arrayContaining([expect.objectContaining({ kind: 'rto', measured: 45_000 })]));
    const open = announce(slow, 1);
    const fast = fold(
      [entry('RestorePerformed', aRestorePerformedData({ outcome: 'restored', startedAt: at(2), finishedAt: new Date(atDate(2).getTime() + 10_000).toISOString() }), 2)],
      open,
    );
    expect(decideSlos(fast, atDate(3), targets).restore).toEqual(expect.arrayContaining([expect.objectContaining({ kind: 'rto', measured: 10_000 })]));
  });

  it('opens an availability breach while an outage never ended by a completed failover lasts', () => {
    const outage = fold([entry('FailoverTriggered', { ...(anEvent('FailoverTriggered').data as any), toInstance: null, firstFailureAt: at(0), detectedAt: at(0) }, 0)]);
    const { breach } = decideSlos(outage, atDate(10), targets);
    expect(breach).toEqual([expect.objectContaining({ kind: 'availability', unit: 'ratio' })]);
    expect(breach[0]!.measured).toBeLessThan(targets.availability);
    expect(breach[0]!.detail).toContain('outage is still open');
  });
});

describe('nextSloChange', () => {
  beforeEach(resetLog);

  const DAY_MS = 86_400_000;
  /** The objectives breached at `t` (ms), as measureSlos finds them. */
  const breached = (state: ResourceState, t: number) =>
    measureSlos(state, new Date(t), targets)
      .filter((m) => m.breached)
      .map((m) => m.kind)
      .join(',');
  /** The moment named for `now` (minutes), after checking that the clock changes nothing before it (sampled up to it, or 400 days). */
  const unchangedUntilNamed = (state: ResourceState, minute: number) => {
    const now = atDate(minute).getTime();
    const next = nextSloChange(state, atDate(minute), targets);
    const end = next ?? now + 400 * DAY_MS;
    const before = breached(state, now);
    for (let k = 0; k <= 500; k++) expect(breached(state, now + Math.floor(((end - 1 - now) * k) / 500))).toBe(before);
    return { next, before };
  };

  it('names the moment a stopped backup schedule crosses the RPO target, to the millisecond, and nothing once it has', () => {
    const state = fold(verifiedBackup(dump(0), 0));
    const { next, before } = unchangedUntilNamed(state, 1);
    expect(next).toBe(atDate(5).getTime() + 1);
    expect(breached(state, next!)).not.toBe(before);
    expect(unchangedUntilNamed(state, 6).next).toBeNull();
    // Never verified: exposure runs from when the resource was first seen.
    const unverified = fold([entry('BackupCreated', dump(0), 2)]);
    expect(unchangedUntilNamed(unverified, 3).next).toBe(atDate(7).getTime() + 1);
  });

  it('names when an availability breach from past downtime closes as the window grows; with an outage open, the next moment', () => {
    const state = fold([entry('FailoverCompleted', aFailoverCompletedData(), 0)]);
    const { next, before } = unchangedUntilNamed(state, 1);
    expect(before).toBe('availability');
    expect(next).toBeGreaterThan(atDate(60).getTime());
    expect(breached(state, next! + 1)).toBe(''); // rounded down by at most a millisecond, never late
    expect(unchangedUntilNamed(state, next! / 60_000 - atDate(0).getTime() / 60_000 + 1).next).toBeNull();

    const outage = fold([entry('FailoverTriggered', { ...(anEvent('FailoverTriggered').data as any), toInstance: null, firstFailureAt: at(0), detectedAt: at(0) }, 0)]);
    expect(nextSloChange(outage, atDate(10), targets)).toBe(atDate(10).getTime() + 1);
  });

  it('a recovery over the RTO target is not a matter of time: nothing to name', () => {
    const slow = fold([entry('RestorePerformed', aRestorePerformedData({ outcome: 'restored', startedAt: at(0), finishedAt: new Date(atDate(0).getTime() + 45_000).toISOString() }), 1)]);
    expect(unchangedUntilNamed(slow, 2).next).toBeNull();
  });
});
