import { initialResourceState, ResourceState } from '../resource-state/resource-state.projection.js';
import { buildPlan, PlanInput, renderPlanHtml, renderPlanMarkdown } from './continuity-plan.js';
import { drillEvidenceOf, openRisksOf } from './plan.evidence.js';

const state = (): ResourceState => ({
  ...initialResourceState('orders-db', '2026-12-01T00:00:00.000Z'),
  lastVerified: {
    backupId: '01935c3e-7b1a-7cc2-9a55-3f8d2f1e0b6a',
    recoveryPoint: '2026-12-01T00:00:00.000Z',
    verifiedAt: '2026-12-01T00:01:00.000Z',
    restoreMs: 1200,
    passedCopies: [
      { location: 'local-disk', site: 'eu-west-1a', medium: 'disk' },
      { location: 'offsite', site: 'eu-central-1', medium: 'object' },
    ],
    threeTwoOne: { copies: 2, media: 2, sites: 2, compliant: false },
  },
});

const input = (over: Partial<PlanInput> = {}): PlanInput => ({
  resource: 'orders-db',
  generatedAt: '2026-12-01T01:00:00.000Z',
  targets: { rpoMs: 300_000, rtoMs: 30_000, availability: 0.9999 },
  state: state(),
  contacts: [{ resources: ['orders-*'], name: 'Orders on-call', email: 'oncall@example.com' }],
  routes: [{ resources: ['orders-*'], channels: ['oncall'], minSeverity: 'high' }],
  lastDrill: drillEvidenceOf({
    id: '01935c3e-7b1a-7cc2-9a55-3f8d2f1e0b6b',
    occurredAt: '2026-11-30T00:00:00.000Z',
    data: { outcome: 'passed', kind: 'full', achievedRtoMs: 8000, achievedRpoMs: 0, steps: [{ name: 'restore', outcome: 'passed', durationMs: 5000 }] },
  }),
  openRisks: [],
  signedHead: { treeSize: 42, rootHash: 'ab'.repeat(32), timestamp: '2026-12-01T00:59:00.000Z', signature: 'x', keyId: 'cd'.repeat(32) },
  failoverUrl: 'http://failover.internal:3003/',
  ...over,
});

describe('continuity plan', () => {
  it('names targets, every copy with its site and medium, the restore and switchover commands, contacts, the drill and the signed head', () => {
    const plan = buildPlan(input());
    expect(plan.copies.map((c) => `${c.location}@${c.site}/${c.medium}`)).toEqual(['local-disk@eu-west-1a/disk', 'offsite@eu-central-1/object']);
    expect(plan.procedures[0]!.command).toBe("continuity restore 01935c3e-7b1a-7cc2-9a55-3f8d2f1e0b6a --to <restore target among orders-db's restoreTargets>");
    expect(plan.procedures[1]!.command).toContain('http://failover.internal:3003/failover/orders-db/switchover');
    expect(plan.gaps).toEqual(['the newest verified recovery point does not meet 3-2-1']);
    const md = renderPlanMarkdown(plan);
    for (const text of ['# Business continuity plan: orders-db', '| 5.0 min | 30.0 s | 99.990 % |', '| offsite | eu-central-1 | object |', 'Orders on-call', '**passed** (full), RTO 8.0 s', '| restore | passed | 5.0 s |', `root \`${'ab'.repeat(32)}\``, 'channels oncall']) {
      expect(md).toContain(text);
    }
  });

  it('says what is missing instead of inventing it', () => {
    const plan = buildPlan(input({ state: null, lastDrill: null, contacts: [], routes: [], signedHead: null }));
    expect(plan.procedures[0]!.command).toContain('continuity restore <backupId>');
    expect(plan.gaps).toEqual([
      'no verified recovery point in the ledger: a restore cannot be shown to work',
      'no recovery drill in the ledger',
      'no contacts configured for this resource',
      'no notification route covers this resource',
      'no signed tree head yet: the evidence is not attested',
    ]);
    expect(renderPlanMarkdown(plan)).toContain('No drill recorded.');
  });

  it('lists risks identified and not resolved since, by rule', () => {
    const risks = openRisksOf([
      { id: 'a', type: 'RiskIdentified', occurredAt: 't1', data: { rule: 'single-site', severity: 'high', mitigation: 'add an off-site copy' } },
      { id: 'b', type: 'RiskIdentified', occurredAt: 't2', data: { rule: 'no-drill', severity: 'medium' } },
      { id: 'c', type: 'RiskResolved', occurredAt: 't3', data: { rule: 'no-drill' } },
    ]);
    expect(risks).toEqual([{ eventId: 'a', rule: 'single-site', severity: 'high', mitigation: 'add an off-site copy', occurredAt: 't1' }]);
    expect(renderPlanMarkdown(buildPlan(input({ openRisks: risks })))).toContain('- **high** single-site — mitigation: add an off-site copy');
  });

  it('escapes everything from data in HTML (a contact named like a script runs nothing)', () => {
    const html = renderPlanHtml(buildPlan(input({ contacts: [{ resources: ['*'], name: '<script>alert(1)</script>', role: 'a|b' }] })));
    expect(html).not.toContain('<script>');
    expect(html).toContain('&lt;script&gt;alert(1)&lt;/script&gt;');
    expect(html).toContain('<td>a|b</td>');
    expect(html).toContain('<h1>Business continuity plan: orders-db</h1>');
  });
});
