import { EventIdSchema } from '@continuity/contracts';
import { atDate, dump, entry, fold, resetLog, verdict, verifiedBackup } from '../../test/findings-fixtures.js';
import { DEFAULT_SLO_TARGETS, ResourceState } from '../resource-state/resource-state.projection.js';
import { findingId } from './finding-id.js';
import { decideRisks } from './risk.decider.js';
import { RiskPolicy } from './risk-rules.js';

const policy: RiskPolicy = { targets: { ...DEFAULT_SLO_TARGETS, rpoMs: 60 * 60_000 }, scrubPeriodMs: 7 * 86_400_000, drillMaxAgeMs: 30 * 86_400_000, standbyLagLimitBytes: 1_000 };
const announce = (state: ResourceState, minute: number) => {
  const d = decideRisks(state, atDate(minute), policy);
  return fold([...d.identify.map((data) => entry('RiskIdentified', data, minute)), ...d.resolve.map((data) => entry('RiskResolved', data, minute))], state);
};

describe('decideRisks', () => {
  beforeEach(resetLog);

  it('identifies each finding once: what the ledger holds as open is not identified again', () => {
    const b = dump(0);
    const lost = fold([...verifiedBackup(b, 0), entry('IntegrityVerified', verdict(b, ['offsite'], { trigger: 'scrub' }), 3)]);
    const first = decideRisks(lost, atDate(4), policy);
    // The copy left off-site was the only one: the two left are on one site and one medium too.
    const rules = ['copies-one-medium', 'copies-one-site', 'drill-overdue', 'three-two-one-lost'];
    expect(first.identify.map((r) => r.rule).sort()).toEqual(rules);
    expect(first.resolve).toEqual([]);
    const open = announce(lost, 4);
    expect(Object.keys(open.protection!.openRisks).sort()).toEqual(rules);
    expect(decideRisks(open, atDate(5), policy)).toEqual({ identify: [], resolve: [] });
  });

  it('resolves an open risk whose rule finds nothing now, naming it; a risk raised again gets a new id', () => {
    const b = dump(0);
    const open = announce(fold([...verifiedBackup(b, 0), entry('IntegrityVerified', verdict(b, ['offsite'], { trigger: 'scrub' }), 3)]), 4);
    const riskId = open.protection!.openRisks['three-two-one-lost']!.id;
    const fixed = fold(verifiedBackup(dump(5), 5), open);
    const { resolve } = decideRisks(fixed, atDate(7), policy);
    expect(resolve.map((r) => r.rule).sort()).toEqual(['copies-one-medium', 'copies-one-site', 'three-two-one-lost']);
    expect(resolve).toContainEqual(expect.objectContaining({ riskId, rule: 'three-two-one-lost' }));
    const resolved = announce(fixed, 7);
    expect(resolved.protection!.openRisks['three-two-one-lost']).toBeUndefined();
    const b2 = resolved.protection!.retained[resolved.protection!.retained.length - 1]!;
    const lostAgain = fold([entry('IntegrityVerified', verdict({ ...dump(5), backupId: b2.backupId }, ['nas'], { trigger: 'scrub' }), 8)], resolved);
    const again = decideRisks(lostAgain, atDate(9), policy).identify.find((r) => r.rule === 'three-two-one-lost');
    expect(again?.riskId).toBeDefined();
    expect(again!.riskId).not.toBe(riskId);
  });

  it('derives ids that are valid, stable UUIDv7 event ids', () => {
    const id = findingId('orders-db|risk|copies-one-site|0', Date.UTC(2026, 10, 26));
    expect(EventIdSchema.safeParse(id).success).toBe(true);
    expect(findingId('orders-db|risk|copies-one-site|0', Date.UTC(2026, 10, 26))).toBe(id);
    expect(findingId('orders-db|risk|copies-one-site|1', Date.UTC(2026, 10, 26))).not.toBe(id);
  });
});
