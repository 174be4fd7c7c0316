import type { RiskSeverity } from '@continuity/contracts';
import type { Protection } from '../resource-state/protection.projection.js';
import type { ResourceState, SloTargets } from '../resource-state/resource-state.projection.js';

/** What the rules judge against: the SLO targets and the register's own limits (configuration). */
export interface RiskPolicy {
  targets: SloTargets;
  /** Every retained backup older than this must have had its copies read (a verdict) within it. */
  scrubPeriodMs: number;
  /** A passed drill at most this old. */
  drillMaxAgeMs: number;
  /** Replication lag a standby may have at most. */
  standbyLagLimitBytes: number;
}

export interface RiskFinding {
  rule: string;
  severity: RiskSeverity;
  summary: string;
  mitigation: string;
  /** Ledger event ids the finding rests on; empty when it rests on the absence of any. */
  evidence: string[];
}

export interface RiskRule {
  id: string;
  /** One line for the documentation and the report. */
  describes: string;
  evaluate: (state: ResourceState, p: Protection, now: Date, policy: RiskPolicy) => RiskFinding | null;
  /**
   * The first moment after `now` at which the clock alone can change whether `evaluate` finds
   * something (the state staying as it is); null: never (the rule reads no clock, or its answer
   * can no longer change with it). Required of every rule: a rule reading the clock that did not
   * say when would be judged again only when its resource's projection changes.
   */
  changesAt: (state: ResourceState, p: Protection, now: Date, policy: RiskPolicy) => number | null;
}

const DAY_MS = 86_400_000;
const ms = (iso: string) => Date.parse(iso);
const minutes = (value: number) => `${(value / 60_000).toFixed(1)} min`;
const days = (value: number) => `${(value / DAY_MS).toFixed(1)} days`;
/** `moment` if it is still ahead of `now`, else null (a time rule whose moment passed holds until the state changes). */
const ahead = (now: Date, moment: number) => (Number.isFinite(moment) && moment > now.getTime() ? moment : null);
const never = () => null;
const ids = (...values: (string | null | undefined)[]) => values.filter((v): v is string => typeof v === 'string').slice(0, 100);

/** The rules of the risk register, each pure: state + protection + now + policy → a finding or none. */
export const RISK_RULES: RiskRule[] = [
  {
    id: 'no-verified-recovery-point',
    describes: 'no verified recovery point within the RPO target',
    evaluate: (state, p, now, { targets }) => {
      if (!p.hasBackups) return null;
      const lv = state.lastVerified;
      if (lv && now.getTime() - ms(lv.recoveryPoint) <= targets.rpoMs) return null;
      return {
        rule: 'no-verified-recovery-point',
        severity: lv ? 'high' : 'critical',
        summary: lv
          ? `the newest verified recovery point (${lv.recoveryPoint}) is ${minutes(now.getTime() - ms(lv.recoveryPoint))} old, above the RPO target of ${minutes(targets.rpoMs)}`
          : 'no backup of this resource has ever passed verification',
        mitigation: 'check that the backup schedule runs and that the verifier passes its backups (GET /backups, the verifier\'s IntegrityVerified reasons); take a backup now',
        evidence: ids(p.verifiedEventId, p.retained[p.retained.length - 1]?.eventId),
      };
    },
    // Raised once the verified point is older than the target: at recoveryPoint + target + 1.
    changesAt: (state, p, now, { targets }) => (p.hasBackups && state.lastVerified ? ahead(now, ms(state.lastVerified.recoveryPoint) + targets.rpoMs + 1) : null),
  },
  {
    id: 'restore-over-rto',
    describes: 'the measured restore time is above the RTO target',
    evaluate: (state, p, _now, { targets }) => {
      const tested = state.lastVerified?.restoreMs ?? null;
      const restore = p.lastRecovery?.kind === 'restore' ? p.lastRecovery : null;
      const worst = Math.max(tested ?? 0, restore?.ms ?? 0);
      if (worst <= targets.rtoMs) return null;
      return {
        rule: 'restore-over-rto',
        severity: 'high',
        summary: `restoring takes ${(worst / 1000).toFixed(1)} s, above the RTO target of ${(targets.rtoMs / 1000).toFixed(1)} s`,
        mitigation: 'keep a hot standby for failover, restore from a nearer or faster copy, or use smaller base backups with WAL; re-test the restore time',
        evidence: ids(tested !== null && tested > targets.rtoMs ? p.verifiedEventId : null, restore && restore.ms > targets.rtoMs ? restore.eventId : null),
      };
    },
    changesAt: never,
  },
  {
    id: 'copies-one-site',
    describes: 'every good copy of the verified recovery point is on one site',
    evaluate: (state, p) => {
      const copies = state.lastVerified?.passedCopies ?? [];
      const sites = new Set(copies.map((c) => c.site));
      if (copies.length === 0 || sites.size > 1) return null;
      return {
        rule: 'copies-one-site',
        severity: 'high',
        summary: `all ${copies.length} good copies of the newest verified backup are on site ${[...sites][0]}: one site lost loses them all`,
        mitigation: 'add a copy location on another site (off-site) to the policy',
        evidence: ids(p.verifiedEventId),
      };
    },
    changesAt: never,
  },
  {
    id: 'copies-one-medium',
    describes: 'every good copy of the verified recovery point is on one medium',
    evaluate: (state, p) => {
      const copies = state.lastVerified?.passedCopies ?? [];
      const media = new Set(copies.map((c) => c.medium));
      if (copies.length === 0 || media.size > 1) return null;
      return {
        rule: 'copies-one-medium',
        severity: 'medium',
        summary: `all ${copies.length} good copies of the newest verified backup are on medium ${[...media][0]}: one failure mode can take them all`,
        mitigation: 'add a copy location on a second medium (e.g. object storage beside disk)',
        evidence: ids(p.verifiedEventId),
      };
    },
    changesAt: never,
  },
  {
    id: 'three-two-one-lost',
    describes: '3-2-1 compliance of the verified recovery point was withdrawn by a failed scrub',
    evaluate: (state, p) => {
      const lost = p.threeTwoOneLost;
      if (!lost || state.lastVerified?.threeTwoOne.compliant) return null;
      return {
        rule: 'three-two-one-lost',
        severity: 'critical',
        summary: `a verification on ${lost.at} found the copies at ${lost.locations.join(', ')} bad: the newest verified backup no longer has 3 good copies on 2 media with 1 off-site`,
        mitigation: 'take a new backup now (it writes fresh copies), then find why the copy went bad (disk, tampering) before trusting that location again',
        evidence: ids(p.verifiedEventId, lost.eventId),
      };
    },
    changesAt: never,
  },
  {
    id: 'scrub-coverage',
    describes: 'not every retained backup had its copies read within the scrub period',
    evaluate: (_state, p, now, { scrubPeriodMs }) => {
      const since = now.getTime() - scrubPeriodMs;
      const due = p.retained.filter((b) => ms(b.point) < since);
      const unscrubbed = due.filter((b) => b.checkedAt === null || ms(b.checkedAt) < since);
      if (unscrubbed.length === 0) return null;
      const coverage = (100 * (due.length - unscrubbed.length)) / due.length;
      return {
        rule: 'scrub-coverage',
        severity: 'medium',
        summary: `${unscrubbed.length} of ${due.length} retained backups had no verification in the last ${days(scrubPeriodMs)} (scrub coverage ${coverage.toFixed(0)} %)`,
        mitigation: 'let the verifier scrub every retained backup within the period (its scrub schedule), or expire what need not be kept',
        evidence: ids(...unscrubbed.map((b) => b.eventId)),
      };
    },
    // A backup counts once it is both due (point older than the period) and unscrubbed (last read
    // longer ago than the period); both only become true with time, so the finding appears at the
    // first backup's max(point, checkedAt) + period + 1 and then holds.
    changesAt: (_state, p, now, { scrubPeriodMs }) =>
      ahead(now, Math.min(...p.retained.map((b) => Math.max(ms(b.point), b.checkedAt === null ? -Infinity : ms(b.checkedAt)) + scrubPeriodMs + 1).filter(Number.isFinite))),
  },
  {
    id: 'drill-overdue',
    describes: 'no passed recovery drill within the drill period, the last one failed, or never drilled',
    evaluate: (_state, p, now, { drillMaxAgeMs }) => {
      if (!p.hasBackups && !p.hasReplication) return null;
      const drill = p.lastDrill;
      if (drill && drill.passed && now.getTime() - ms(drill.at) <= drillMaxAgeMs) return null;
      const summary = !drill
        ? 'never drilled: no recovery drill of this resource is in the ledger'
        : !drill.passed
          ? `the last recovery drill (${drill.at}) failed`
          : `the last passed recovery drill is ${days(now.getTime() - ms(drill.at))} old, above ${days(drillMaxAgeMs)}`;
      return {
        rule: 'drill-overdue',
        severity: drill && !drill.passed ? 'high' : 'medium',
        summary,
        mitigation: 'run a recovery drill (restore, and failover where replicated) and fix what fails',
        evidence: ids(drill?.eventId),
      };
    },
    // A passed drill goes stale at its time + the period + 1; never drilled or failed holds until a drill.
    changesAt: (_state, p, now, { drillMaxAgeMs }) =>
      (p.hasBackups || p.hasReplication) && p.lastDrill?.passed ? ahead(now, ms(p.lastDrill.at) + drillMaxAgeMs + 1) : null,
  },
  {
    id: 'no-standby',
    describes: 'a replicated resource has no standby that could be promoted',
    evaluate: (_state, p) => {
      if (!p.hasReplication || !p.standby || p.standby.eligible > 0) return null;
      return {
        rule: 'no-standby',
        severity: 'high',
        summary: 'no standby could be promoted at the last failover decision or synchronous-standby change: a primary failure means an outage until one is rebuilt',
        mitigation: 'rebuild or re-attach a standby (pg_rewind or a new base backup) and check it streams',
        evidence: ids(p.standby.eventId),
      };
    },
    changesAt: never,
  },
  {
    id: 'standby-lag',
    describes: 'standby replication lag above the limit',
    evaluate: (_state, p, _now, { standbyLagLimitBytes }) => {
      const lag = p.standby?.maxLagBytes ?? null;
      if (!p.hasReplication || lag === null || lag <= standbyLagLimitBytes) return null;
      return {
        rule: 'standby-lag',
        severity: 'medium',
        summary: `a standby lagged ${lag} bytes behind the primary, above the limit of ${standbyLagLimitBytes}: a failover would lose or wait for that much WAL`,
        mitigation: 'find why the standby falls behind (network, I/O, long queries on it) or add a closer standby',
        evidence: ids(p.standby!.eventId),
      };
    },
    changesAt: never,
  },
  {
    id: 'wal-archive-gap',
    describes: 'the WAL archive has a gap no base backup has closed yet',
    evaluate: (_state, p) => {
      if (!p.walGap) return null;
      return {
        rule: 'wal-archive-gap',
        severity: 'high',
        summary: `the WAL archive has a gap (${p.walGap.detail}): no point-in-time restore past it until a new base backup`,
        mitigation: 'take a base backup now; check the replication slot and pg_receivewal of the WAL archiver',
        evidence: ids(p.walGap.eventId),
      };
    },
    changesAt: never,
  },
];

/** Every finding for a resource now, in rule order. Resources with no backup or replication facts are not judged. */
export const evaluateRisks = (state: ResourceState, now: Date, policy: RiskPolicy): RiskFinding[] => {
  const p = state.protection;
  if (!p) return [];
  return RISK_RULES.flatMap((rule) => rule.evaluate(state, p, now, policy) ?? []);
};

/** The first moment after `now` at which the clock alone can change which rules find something for the resource; null: never. */
export const nextRiskChange = (state: ResourceState, now: Date, policy: RiskPolicy): number | null => {
  const p = state.protection;
  if (!p) return null;
  const times = RISK_RULES.map((rule) => rule.changesAt(state, p, now, policy)).filter((t): t is number => t !== null);
  return times.length ? Math.min(...times) : null;
};
