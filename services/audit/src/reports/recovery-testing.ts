import type { ContinuityEvent } from '@continuity/contracts';
import type { LedgerEntry, SloTargets } from '../resource-state/resource-state.projection.js';

/** One recovery test: a drill (DrillCompleted) or a verifier's restore test (IntegrityVerified). */
export interface RecoveryTest {
  kind: 'drill' | 'restore-test';
  /** The drill's id, or the backup's id for a restore test. */
  id: string;
  /** When it ended. */
  at: string;
  /** restore, failover or full for a drill; null for a restore test. */
  drillKind: 'restore' | 'failover' | 'full' | null;
  outcome: 'passed' | 'failed';
  rtoMs: number | null;
  rpoMs: number | null;
  targets: { rtoMs: number; rpoMs: number };
  rtoMet: boolean | null;
  rpoMet: boolean | null;
  /** A failed drill's step, or `restore` for a failed restore test. */
  failedStep: string | null;
  cause: string | null;
  /** Evidence: the event and its position in the ledger (ask GET /audit/events/{id} for its inclusion proof). */
  eventId: string;
  logIndex: number;
}

export interface Tally {
  total: number;
  passed: number;
  failed: number;
}

export interface ResourceRecoveryTesting {
  resource: string;
  tests: RecoveryTest[];
  drills: Tally;
  restoreTests: Tally;
  worstRtoMs: number | null;
  worstRpoMs: number | null;
  lastDrill: RecoveryTest | null;
  failures: RecoveryTest[];
}

export interface RecoveryTestingReport {
  from: string;
  to: string;
  /** What restore tests are judged against (drills carry their own targets). */
  targets: { rtoMs: number; rpoMs: number };
  estate: { resources: number; drills: Tally; restoreTests: Tally; failures: number; resourcesWithoutDrill: string[] };
  resources: ResourceRecoveryTesting[];
}

const tally = (tests: RecoveryTest[]): Tally => ({ total: tests.length, passed: tests.filter((t) => t.outcome === 'passed').length, failed: tests.filter((t) => t.outcome === 'failed').length });
const worst = (values: (number | null)[]) => {
  const known = values.filter((v): v is number => v !== null);
  return known.length ? Math.max(...known) : null;
};
const met = (value: number | null, target: number) => (value === null ? null : value <= target);

/**
 * The recovery-testing report over [from, to) from the ledger's entries (in log order, up to a
 * signed head). Pure: the same entries give the same report, so anyone holding an export can
 * recompute it. Drills are judged against their own targets; a restore test's RTO is its measured
 * restore time and its RPO the age of the recovery point it proved restorable, both against the
 * deployment's SLO targets. Backups before `from` only supply recovery points.
 */
export const buildRecoveryTestingReport = (entries: Iterable<LedgerEntry>, window: { from: Date; to: Date }, targets: Pick<SloTargets, 'rtoMs' | 'rpoMs'>): RecoveryTestingReport => {
  const from = window.from.getTime();
  const to = window.to.getTime();
  const recoveryPoints = new Map<string, number>();
  const byResource = new Map<string, RecoveryTest[]>();
  const add = (resource: string, test: RecoveryTest) => {
    const list = byResource.get(resource) ?? [];
    list.push(test);
    byResource.set(resource, list);
  };
  for (const { event, logIndex } of entries) {
    const occurred = Date.parse(event.occurredAt);
    if (event.type === 'BackupCreated') {
      recoveryPoints.set((event as ContinuityEvent<'BackupCreated'>).data.backupId, Date.parse((event as ContinuityEvent<'BackupCreated'>).data.recoveryPoint));
      continue;
    }
    if (occurred < from || occurred >= to) continue;
    if (event.type === 'DrillCompleted') {
      const d = (event as ContinuityEvent<'DrillCompleted'>).data;
      add(event.resource, {
        kind: 'drill',
        id: d.drillId,
        at: d.finishedAt,
        drillKind: d.kind,
        outcome: d.outcome,
        rtoMs: d.achieved.rtoMs,
        rpoMs: d.achieved.rpoMs,
        targets: d.targets,
        rtoMet: met(d.achieved.rtoMs, d.targets.rtoMs),
        rpoMet: met(d.achieved.rpoMs, d.targets.rpoMs),
        failedStep: d.failedStep,
        cause: d.reason,
        eventId: event.id,
        logIndex,
      });
    } else if (event.type === 'IntegrityVerified') {
      const v = (event as ContinuityEvent<'IntegrityVerified'>).data;
      if (!v.restoreTest || v.restoreTest.status === 'skipped') continue;
      const point = recoveryPoints.get(v.backupId);
      const rpoMs = point === undefined ? null : Math.max(0, occurred - point);
      const rtoMs = v.restoreTest.durationMs;
      const failedChecks = v.restoreTest.checks.filter((c) => !c.passed).map((c) => `${c.name}${c.detail ? ` (${c.detail})` : ''}`);
      const passed = v.restoreTest.status === 'passed';
      add(event.resource, {
        kind: 'restore-test',
        id: v.backupId,
        at: event.occurredAt,
        drillKind: null,
        outcome: passed ? 'passed' : 'failed',
        rtoMs,
        rpoMs,
        targets: { rtoMs: targets.rtoMs, rpoMs: targets.rpoMs },
        rtoMet: met(rtoMs, targets.rtoMs),
        rpoMet: met(rpoMs, targets.rpoMs),
        failedStep: passed ? null : 'restore',
        cause: passed ? null : [...failedChecks, ...v.reasons].join('; ') || 'restore test failed',
        eventId: event.id,
        logIndex,
      });
    }
  }
  const resources = [...byResource.entries()]
    .sort(([a], [b]) => a.localeCompare(b))
    .map(([resource, tests]): ResourceRecoveryTesting => {
      const drills = tests.filter((t) => t.kind === 'drill');
      return {
        resource,
        tests,
        drills: tally(drills),
        restoreTests: tally(tests.filter((t) => t.kind === 'restore-test')),
        worstRtoMs: worst(tests.map((t) => t.rtoMs)),
        worstRpoMs: worst(tests.map((t) => t.rpoMs)),
        lastDrill: drills[drills.length - 1] ?? null,
        failures: tests.filter((t) => t.outcome === 'failed'),
      };
    });
  const sum = (pick: (r: ResourceRecoveryTesting) => Tally): Tally => resources.map(pick).reduce((a, b) => ({ total: a.total + b.total, passed: a.passed + b.passed, failed: a.failed + b.failed }), { total: 0, passed: 0, failed: 0 });
  return {
    from: window.from.toISOString(),
    to: window.to.toISOString(),
    targets: { rtoMs: targets.rtoMs, rpoMs: targets.rpoMs },
    estate: {
      resources: resources.length,
      drills: sum((r) => r.drills),
      restoreTests: sum((r) => r.restoreTests),
      failures: resources.reduce((n, r) => n + r.failures.length, 0),
      resourcesWithoutDrill: resources.filter((r) => r.drills.total === 0).map((r) => r.resource),
    },
    resources,
  };
};
