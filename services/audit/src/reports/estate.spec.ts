import { atDate, baseBackup, dump, entry, fold, resetLog, verdict, verifiedBackup, walShipment } from '../../test/findings-fixtures.js';
import { DEFAULT_SLO_TARGETS, ResourceState } from '../resource-state/resource-state.projection.js';
import { RiskPolicy } from '../risks/risk-rules.js';
import { buildEstate } from './estate.js';
import { renderEstateHtml, renderProtectionFacts } from './estate.html.js';

const policy: RiskPolicy = { targets: { ...DEFAULT_SLO_TARGETS, rpoMs: 5 * 60_000 }, scrubPeriodMs: 7 * 86_400_000, drillMaxAgeMs: 30 * 86_400_000, standbyLagLimitBytes: 1_000 };

describe('the estate', () => {
  beforeEach(resetLog);

  const healthy = () => fold([...verifiedBackup(baseBackup(0), 0), entry('WalArchived', walShipment(9, 1), 9)]);
  const scrubbedBad = () => {
    const b = dump(0);
    return fold([...verifiedBackup(b, 0), entry('IntegrityVerified', verdict(b, ['offsite'], { trigger: 'scrub' }), 5)]);
  };
  const rename = (state: ResourceState, resource: string): ResourceState => ({ ...state, resource });

  it('has one row per protected resource, breached first, with RPO achieved, window, last drill and risks', () => {
    const estate = buildEstate([rename(healthy(), 'b-db'), rename(scrubbedBad(), 'a-db'), rename(healthy(), 'c-db')], atDate(10), policy);
    expect(estate.rows.map((r) => [r.resource, r.status])).toEqual([
      ['a-db', 'breached'],
      ['b-db', 'at-risk'],
      ['c-db', 'at-risk'],
    ]);
    const b = estate.rows[1]!;
    expect(b.rpoAchievedMs).toBe(60_000); // WAL shipped at minute 9, verified base backup at 0
    expect(b.recoverableWindow).toMatchObject({ walBased: true });
    expect(b.lastDrill).toBeNull();
    // Never drilled, and the newest *verified* backup is older than the RPO target (WAL is not verified yet).
    expect(estate.risks.filter((r) => r.resource === 'b-db').map((r) => r.rule).sort()).toEqual(['drill-overdue', 'no-verified-recovery-point']);
    expect(b.openRisks).toBe(2);
    expect(estate.risks[0]).toMatchObject({ resource: 'a-db', rule: 'three-two-one-lost', severity: 'critical', riskId: null });
    const html = renderEstateHtml(estate);
    expect(html.indexOf('id="risks"')).toBeLessThan(html.indexOf('id="estate"'));
    expect(renderProtectionFacts(b)).toContain('(WAL-based)');
  });

  it('escapes resource names and finding text', () => {
    const html = renderEstateHtml(buildEstate([rename(scrubbedBad(), 'x<img src=x>')], atDate(10), policy));
    expect(html).toContain('x&lt;img src=x&gt;');
    expect(html).not.toContain('<img');
  });

  it('renders thousands of resources from their projections quickly (no log fold)', () => {
    const templates = [healthy(), scrubbedBad()];
    const states = Array.from({ length: 5_000 }, (_, i) => rename(templates[i % 2]!, `db-${String(i).padStart(5, '0')}`));
    const started = performance.now();
    const estate = buildEstate(states, atDate(10), policy);
    const html = renderEstateHtml(estate);
    const elapsedMs = performance.now() - started;
    expect(estate.rows).toHaveLength(5_000);
    expect(html.match(/<tr class=/g)).toHaveLength(5_000);
    expect(elapsedMs).toBeLessThan(10_000); // generous on a loaded 2-core machine; measured well under a second
  });
});
