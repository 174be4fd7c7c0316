import {
  assessAt,
  DEFAULT_SLO_TARGETS,
  evolveResourceState,
  LedgerEntry,
  ResourceState,
  SloBreach,
  SloTargets,
  ThreeTwoOne,
} from '../resource-state/resource-state.projection.js';
import { recoverableMoment } from '../resource-state/protection.projection.js';

export interface RpoPoint {
  at: string;
  exposureMs: number;
}

export interface ResourceReport {
  resource: string;
  /**
   * The worst data loss a disaster in the window would have caused: the longest time from the
   * newest verified recovery point to the moment a newer one was verified (or the window ended).
   * Stricter than the gap between recovery points, since it counts verification delay. Null without any.
   */
  rpoAchievedMs: number | null;
  /** The longest gap between consecutive verified recovery points in the window. */
  worstRecoveryPointGapMs: number | null;
  rpoBreached: boolean;
  /** RPO exposure over time: a sawtooth that drops at each newly verified recovery point. */
  rpoSeries: RpoPoint[];
  backups: { taken: number; verified: number; failedVerification: number; failed: number; expired: number };
  threeTwoOne: ThreeTwoOne | null;
  failovers: { at: string; rtoMs: number; newPrimary: string; lagBytes: number | null }[];
  worstRtoMs: number | null;
  availability: number;
  sloBreaches: SloBreach[];
}

export interface ContinuityReport {
  from: string;
  to: string;
  targets: SloTargets;
  resources: ResourceReport[];
}

interface Tracker {
  state: ResourceState | null;
  rpAtFrom: number | null;
  verifiedInWindow: { at: number; recoveryPoint: number }[];
  counts: ResourceReport['backups'];
  failovers: ResourceReport['failovers'];
  downtimeMs: number;
  breaches: SloBreach[];
}

const t = (iso: string) => Date.parse(iso);

/**
 * The continuity report over [from, to) from the ledger's entries (in log order, up to a signed
 * head). Pure: the same entries give the same report, so anyone holding an export can recompute it.
 * Entries before `from` only set the starting state (e.g. the recovery point the window starts with).
 * A window reaching past `now` ends at `now` (exposure is measured up to the moment of asking).
 */
export const buildContinuityReport = (
  entries: Iterable<LedgerEntry>,
  window: { from: Date; to: Date },
  now: Date,
  targets: SloTargets = DEFAULT_SLO_TARGETS,
): ContinuityReport => {
  const from = window.from.getTime();
  const to = window.to.getTime();
  const trackers = new Map<string, Tracker>();
  for (const entry of entries) {
    const occurred = t(entry.event.occurredAt);
    if (occurred >= to) continue;
    const tracker =
      trackers.get(entry.event.resource) ??
      ({ state: null, rpAtFrom: null, verifiedInWindow: [], counts: { taken: 0, verified: 0, failedVerification: 0, failed: 0, expired: 0 }, failovers: [], downtimeMs: 0, breaches: [] } as Tracker);
    trackers.set(entry.event.resource, tracker);
    const before = tracker.state;
    const after = evolveResourceState(before, entry, targets);
    tracker.state = after;
    // The newest recoverable moment: the verified recovery point, or (point-in-time recovery) WAL
    // durable after a verified base backup, so the series is WAL-based where WAL is archived.
    const recoverable = recoverableMoment(after);
    const newRp = recoverable && recoverable.at !== (before && recoverableMoment(before)?.at) ? t(recoverable.at) : null;
    if (occurred < from) {
      if (newRp !== null) tracker.rpAtFrom = newRp;
      continue;
    }
    const data = entry.event.data as Record<string, any>;
    switch (entry.event.type) {
      case 'BackupCreated':
        tracker.counts.taken++;
        break;
      case 'BackupFailed':
        tracker.counts.failed++;
        break;
      case 'BackupExpired':
        tracker.counts.expired++;
        break;
      case 'IntegrityVerified':
        if (data.verdict === 'passed') tracker.counts.verified++;
        else tracker.counts.failedVerification++;
        break;
      case 'FailoverCompleted': {
        tracker.failovers.push({ at: data.timeline.routedAt, rtoMs: data.rtoMs, newPrimary: data.newPrimary, lagBytes: data.replicationLagBytes });
        const since = t(data.timeline.firstFailureAt ?? data.timeline.detectedAt);
        tracker.downtimeMs += Math.max(0, Math.min(t(data.timeline.routedAt), to) - Math.max(since, from));
        break;
      }
    }
    if (newRp !== null) tracker.verifiedInWindow.push({ at: occurred, recoveryPoint: newRp });
    tracker.breaches.push(...after.sloBreaches.filter((b) => !before?.sloBreaches.includes(b)));
  }

  const end = Math.min(to, now.getTime());
  const resources = [...trackers.entries()]
    .sort(([a], [b]) => a.localeCompare(b))
    .map(([resource, tr]): ResourceReport => {
      const series: RpoPoint[] = [];
      let rp = tr.rpAtFrom;
      let worst: number | null = null;
      let worstGap: number | null = null;
      const note = (at: number, value: number | null) => {
        if (value === null) return;
        series.push({ at: new Date(at).toISOString(), exposureMs: Math.max(0, at - value) });
        worst = Math.max(worst ?? 0, at - value);
      };
      note(from, rp);
      for (const v of tr.verifiedInWindow) {
        note(v.at, rp); // exposure just before this verification
        if (rp === null || v.recoveryPoint > rp) {
          if (rp !== null) worstGap = Math.max(worstGap ?? 0, v.recoveryPoint - rp);
          rp = v.recoveryPoint;
        }
        note(v.at, rp); // and right after
      }
      note(end, rp);
      const windowMs = Math.max(1, end - from);
      const assessment = tr.state ? assessAt(tr.state, new Date(end), targets) : null;
      return {
        resource,
        rpoAchievedMs: worst,
        worstRecoveryPointGapMs: worstGap,
        rpoBreached: worst === null || worst > targets.rpoMs,
        rpoSeries: series,
        backups: tr.counts,
        threeTwoOne: tr.state?.lastVerified?.threeTwoOne ?? null,
        failovers: tr.failovers,
        worstRtoMs: tr.failovers.length ? Math.max(...tr.failovers.map((f) => f.rtoMs)) : null,
        availability: Math.max(0, 1 - tr.downtimeMs / windowMs),
        sloBreaches: [
          ...tr.breaches.filter((b) => t(b.at) >= from),
          ...(assessment?.rpoBreached && tr.state?.lastVerified
            ? [{ kind: 'rpo' as const, at: new Date(end).toISOString(), valueMs: assessment.rpoExposureMs ?? 0, targetMs: targets.rpoMs, detail: 'current RPO exposure' }]
            : []),
        ],
      };
    });
  return { from: window.from.toISOString(), to: window.to.toISOString(), targets, resources };
};
