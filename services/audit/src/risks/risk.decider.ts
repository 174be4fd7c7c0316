import type { RiskIdentifiedV1, RiskResolvedV1 } from '@continuity/contracts';
import type { ResourceState } from '../resource-state/resource-state.projection.js';
import { findingId } from './finding-id.js';
import { evaluateRisks, RiskPolicy } from './risk-rules.js';

export interface RiskDecision {
  identify: RiskIdentifiedV1[];
  resolve: RiskResolvedV1[];
}

/**
 * What the register must announce for a resource now: a finding whose rule has no open risk is
 * identified; an open risk (as the ledger says: RiskIdentified folded, not yet RiskResolved) whose
 * rule no longer finds anything is resolved. A rule still finding something keeps its open risk
 * (no churn when its evidence changes). Ids come from the resource, the rule and how many risks
 * of that rule were resolved before, so every instance and every restart derives the same id.
 * `findings`: the rules' findings for `state` at `now`, when the caller has them already.
 */
export const decideRisks = (state: ResourceState, now: Date, policy: RiskPolicy, findings = evaluateRisks(state, now, policy)): RiskDecision => {
  const open = state.protection?.openRisks ?? {};
  const generations = state.protection?.generations ?? {};
  const identify = findings
    .filter((f) => !open[f.rule])
    .map((f) => ({ riskId: findingId(`${state.resource}|risk|${f.rule}|${generations[`risk:${f.rule}`] ?? 0}`, Date.parse(state.trackedSince)), ...f }));
  const resolve = Object.entries(open)
    .filter(([rule]) => !findings.some((f) => f.rule === rule))
    .map(([rule, risk]) => ({
      riskId: risk.id,
      rule,
      identifiedAt: risk.since,
      detail: `rule ${rule} finds nothing as of ledger entry ${state.asOfLogIndex}`,
      evidence: [],
    }));
  return { identify, resolve };
};
