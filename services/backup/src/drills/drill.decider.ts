import type { DrillCompletedV1, DrillKind, DrillStep, DrillStepCompletedV1 } from '@continuity/contracts';

/**
 * Drills judged, pure: time is passed in, nothing is read or written. A step passes when it
 * finished without error and its measured RTO and RPO are within the targets; a drill passes when
 * every step passed (and, for a full drill, the whole recovery — disaster declared to clients
 * routed and data checked — is within the RTO target). The first failing step is named.
 */

export interface DrillTargets {
  rtoMs: number;
  rpoMs: number;
}

/** The steps of each kind, in order: the failover routes clients first, then the data is restored and checked. */
export const stepsOf = (kind: DrillKind): DrillStep[] => (kind === 'restore' ? ['restore'] : kind === 'failover' ? ['failover'] : ['failover', 'restore']);

/** What a step measured before it was judged. `error` is set when it could not finish. */
export interface MeasuredStep {
  step: DrillStep;
  startedAt: Date;
  finishedAt: Date;
  rtoMs: number | null;
  rpoMs: number | null;
  error: string | null;
  /** Checks of the restored data; any failed one fails the step. */
  checks: { name: string; ok: boolean; detail: string }[];
}

const seconds = (ms: number) => `${(ms / 1000).toFixed(1)} s`;

/** Passed or failed, with the reason in words. */
export const judgeStep = (measured: MeasuredStep, targets: DrillTargets): { outcome: 'passed' | 'failed'; reason: string | null } => {
  if (measured.error !== null) return { outcome: 'failed', reason: measured.error };
  const failedChecks = measured.checks.filter((c) => !c.ok);
  if (failedChecks.length) return { outcome: 'failed', reason: `checks failed: ${failedChecks.map((c) => `${c.name} (${c.detail})`).join('; ')}` };
  if (measured.rtoMs !== null && measured.rtoMs > targets.rtoMs) {
    return { outcome: 'failed', reason: `${measured.step} took ${seconds(measured.rtoMs)}, above the RTO target of ${seconds(targets.rtoMs)}` };
  }
  if (measured.rpoMs !== null && measured.rpoMs > targets.rpoMs) {
    return { outcome: 'failed', reason: `${measured.step} would lose ${seconds(measured.rpoMs)} of data, above the RPO target of ${seconds(targets.rpoMs)}` };
  }
  return { outcome: 'passed', reason: null };
};

export interface DrillPlan {
  drillId: string;
  kind: DrillKind;
  targets: DrillTargets;
  startedAt: Date;
}

type JudgedStep = Pick<DrillStepCompletedV1, 'step' | 'outcome' | 'durationMs' | 'rtoMs' | 'rpoMs' | 'reason'>;

/**
 * The drill's verdict from its judged steps (in the order they ran). A step the drill never
 * reached (an earlier one failed) is not listed; a kind's step missing altogether fails the drill.
 */
export const judgeDrill = (plan: DrillPlan, steps: readonly JudgedStep[], finishedAt: Date): DrillCompletedV1 => {
  const expected = stepsOf(plan.kind);
  const failed = steps.find((s) => s.outcome === 'failed');
  const missing = expected.find((name) => !steps.some((s) => s.step === name));
  const recoveredMs = !failed && !missing ? Math.max(0, finishedAt.getTime() - plan.startedAt.getTime()) : null;
  const worst = (pick: (s: JudgedStep) => number | null) => {
    const values = steps.map(pick).filter((v): v is number => v !== null);
    return values.length ? Math.max(...values) : null;
  };
  // A full drill's RTO is the whole recovery's; a single-step drill's is its step's.
  const rtoMs = plan.kind === 'full' ? recoveredMs : worst((s) => s.rtoMs);
  let outcome: 'passed' | 'failed' = 'passed';
  let failedStep: DrillStep | null = null;
  let reason: string | null = null;
  if (failed) {
    outcome = 'failed';
    failedStep = failed.step;
    reason = `${failed.step} step failed: ${failed.reason ?? 'no reason given'}`;
  } else if (missing) {
    outcome = 'failed';
    failedStep = missing;
    reason = `${missing} step did not run`;
  } else if (plan.kind === 'full' && recoveredMs !== null && recoveredMs > plan.targets.rtoMs) {
    outcome = 'failed';
    failedStep = expected[expected.length - 1]!;
    reason = `the whole recovery took ${seconds(recoveredMs)} (disaster declared to clients routed and data checked), above the RTO target of ${seconds(plan.targets.rtoMs)}`;
  }
  return {
    drillId: plan.drillId,
    kind: plan.kind,
    outcome,
    startedAt: plan.startedAt.toISOString(),
    finishedAt: finishedAt.toISOString(),
    targets: plan.targets,
    achieved: { rtoMs, rpoMs: worst((s) => s.rpoMs) },
    recoveredMs,
    steps: steps.map((s) => ({ step: s.step, outcome: s.outcome, durationMs: s.durationMs, rtoMs: s.rtoMs, rpoMs: s.rpoMs, reason: s.reason })),
    failedStep,
    reason,
  };
};
