import { BackupCopy, Envelope } from '@continuity/contracts';
import { emptyProtection, evolveProtection, Protection } from './protection.projection.js';

/** Service-level objectives the projection judges against (the brief's defaults). */
export interface SloTargets {
  rpoMs: number;
  rtoMs: number;
  /** e.g. 0.9999 */
  availability: number;
}
export const DEFAULT_SLO_TARGETS: SloTargets = { rpoMs: 5 * 60_000, rtoMs: 30_000, availability: 0.9999 };

/** One ledger entry as the projection sees it: the event (upcast) and when the ledger recorded it. */
export interface LedgerEntry {
  logIndex: number;
  recordedAt: string;
  event: Envelope;
}

export interface CopyPlacement {
  location: string;
  site: string;
  medium: string;
}

export interface ThreeTwoOne {
  copies: number;
  media: number;
  sites: number;
  compliant: boolean;
}

export interface AwaitingVerdict {
  backupId: string;
  recoveryPoint: string;
  copies: CopyPlacement[];
}

export interface SloBreach {
  kind: 'rpo' | 'rto';
  at: string;
  valueMs: number;
  targetMs: number;
  detail: string;
}

export interface ResourceState {
  resource: string;
  /** Log index of the last entry folded in. */
  asOfLogIndex: number;
  updatedAt: string;
  lastBackup: { backupId: string; recoveryPoint: string; createdAt: string; sizeBytes: number; copies: number } | null;
  lastVerified: {
    backupId: string;
    recoveryPoint: string;
    verifiedAt: string;
    restoreMs: number | null;
    passedCopies: CopyPlacement[];
    threeTwoOne: ThreeTwoOne;
  } | null;
  lastVerdict: { backupId: string; verdict: string; at: string; reasons: string[] } | null;
  counts: { backupsTaken: number; backupsFailed: number; backupsExpired: number; verificationsPassed: number; verificationsFailed: number; failovers: number };
  /**
   * Backups created and not yet verified, expired or failed (so a verdict can be judged on their
   * copies), oldest first. A list, not an object keyed by backup id: objects whose keys are ever-new
   * ids give V8 a new hidden class per state and made the fold ~15× slower.
   */
  awaitingVerdict: AwaitingVerdict[];
  failovers: { failoverId: string; from: string | null; to: string; rtoMs: number; lagBytes: number | null; completedAt: string }[];
  openOutage: { failoverId: string; since: string } | null;
  /** Total time the resource had no routable primary, from first failure to routed. */
  downtimeMs: number;
  trackedSince: string;
  sloBreaches: SloBreach[];
  /** Retained backups, WAL archive, recoveries, open findings (protection.projection.ts); absent until the first such event. */
  protection?: Protection;
}

const MAX_AWAITING = 32; // verdicts come within minutes; a backup still unverified after 32 newer ones is dropped from the state (the log keeps it)
const MAX_LISTED = 100;

export const threeTwoOneOf = (copies: CopyPlacement[], resourceSite: string | null = null): ThreeTwoOne => {
  const media = new Set(copies.map((c) => c.medium)).size;
  const siteSet = new Set(copies.map((c) => c.site));
  const offsite = resourceSite === null ? siteSet.size >= 2 : [...siteSet].some((s) => s !== resourceSite);
  return { copies: copies.length, media, sites: siteSet.size, compliant: copies.length >= 3 && media >= 2 && offsite };
};

export const initialResourceState = (resource: string, at: string): ResourceState => ({
  resource,
  asOfLogIndex: -1,
  updatedAt: at,
  lastBackup: null,
  lastVerified: null,
  lastVerdict: null,
  counts: { backupsTaken: 0, backupsFailed: 0, backupsExpired: 0, verificationsPassed: 0, verificationsFailed: 0, failovers: 0 },
  awaitingVerdict: [],
  failovers: [],
  openOutage: null,
  downtimeMs: 0,
  trackedSince: at,
  sloBreaches: [],
});

const ms = (iso: string) => Date.parse(iso);

/** The awaiting list, also from a state stored before it was a list (an object keyed by backup id). */
const awaitingOf = (state: ResourceState): AwaitingVerdict[] => {
  const stored = state.awaitingVerdict as AwaitingVerdict[] | Record<string, Omit<AwaitingVerdict, 'backupId'>>;
  return Array.isArray(stored) ? stored : Object.entries(stored).map(([backupId, a]) => ({ backupId, ...a }));
};
const lastN = <T>(items: T[], n = MAX_LISTED) => (items.length > n ? items.slice(items.length - n) : items);

/**
 * The fold of one ledger entry into a resource's continuity state. Pure and deterministic: the
 * same entries in the same order always give the same state, so projections can be rebuilt from
 * the log and compared. An entry at or below `asOfLogIndex` changes nothing (redelivery).
 */
export const evolveResourceState = (
  current: ResourceState | null,
  entry: LedgerEntry,
  targets: SloTargets = DEFAULT_SLO_TARGETS,
): ResourceState => {
  const state = current ?? initialResourceState(entry.event.resource, entry.recordedAt);
  if (entry.logIndex <= state.asOfLogIndex) return state;
  const next: ResourceState = { ...state, asOfLogIndex: entry.logIndex, updatedAt: entry.recordedAt, awaitingVerdict: awaitingOf(state) };
  const { event } = entry;
  const data = event.data as Record<string, any>;
  const protection = evolveProtection(state.protection, entry);
  if (protection !== state.protection) next.protection = protection;

  switch (event.type) {
    case 'BackupCreated': {
      const copies: CopyPlacement[] = (data.copies as BackupCopy[]).map(({ location, site, medium }) => ({ location, site, medium }));
      next.lastBackup = { backupId: data.backupId, recoveryPoint: data.recoveryPoint, createdAt: event.occurredAt, sizeBytes: data.sizeBytes, copies: copies.length };
      const kept = awaitingOf(state).filter((a) => a.backupId !== data.backupId);
      kept.push({ backupId: data.backupId, recoveryPoint: data.recoveryPoint, copies });
      next.awaitingVerdict = kept.length > MAX_AWAITING ? kept.slice(kept.length - MAX_AWAITING) : kept;
      next.counts = { ...state.counts, backupsTaken: state.counts.backupsTaken + 1 };
      return next;
    }
    case 'BackupFailed':
      next.counts = { ...state.counts, backupsFailed: state.counts.backupsFailed + 1 };
      return next;
    case 'BackupExpired': {
      next.awaitingVerdict = awaitingOf(state).filter((a) => a.backupId !== data.backupId);
      next.counts = { ...state.counts, backupsExpired: state.counts.backupsExpired + 1 };
      return next;
    }
    case 'IntegrityVerified': {
      next.lastVerdict = { backupId: data.backupId, verdict: data.verdict, at: event.occurredAt, reasons: data.reasons };
      const backup = awaitingOf(state).find((a) => a.backupId === data.backupId);
      if (data.verdict !== 'passed') {
        next.counts = { ...state.counts, verificationsFailed: state.counts.verificationsFailed + 1 };
        if (state.lastVerified?.backupId === data.backupId) withdrawBadCopies(next, state.lastVerified!, entry);
        return next;
      }
      next.counts = { ...state.counts, verificationsPassed: state.counts.verificationsPassed + 1 };
      if (!backup) return next; // a scrub of an old backup, or one we never saw: no new recovery point
      const passed = new Set((data.copies as { location: string; hashMatch: boolean }[]).filter((c) => c.hashMatch).map((c) => c.location));
      const passedCopies = backup.copies.filter((c) => passed.has(c.location));
      const isNewer = !state.lastVerified || ms(backup.recoveryPoint) > ms(state.lastVerified.recoveryPoint);
      if (isNewer) {
        if (state.lastVerified) {
          const gap = ms(backup.recoveryPoint) - ms(state.lastVerified.recoveryPoint);
          if (gap > targets.rpoMs) {
            next.sloBreaches = lastN([
              ...state.sloBreaches,
              { kind: 'rpo', at: entry.recordedAt, valueMs: gap, targetMs: targets.rpoMs, detail: `${Math.round(gap / 1000)} s between verified recovery points` },
            ]);
          }
        }
        next.lastVerified = {
          backupId: data.backupId,
          recoveryPoint: backup.recoveryPoint,
          verifiedAt: event.occurredAt,
          restoreMs: data.restoreTest?.durationMs ?? null,
          passedCopies,
          threeTwoOne: threeTwoOneOf(passedCopies),
        };
        next.protection = { ...(next.protection ?? emptyProtection()), verifiedEventId: event.id, threeTwoOneLost: null };
      }
      return next;
    }
    case 'FailoverTriggered':
      if (data.toInstance === null) {
        // No candidate: nothing is promoted, the outage goes on and counts against availability
        // until a completed failover ends it (an attempt already open keeps its start).
        next.openOutage = state.openOutage ?? { failoverId: data.failoverId, since: data.firstFailureAt ?? data.detectedAt };
        return next;
      }
      next.openOutage = { failoverId: data.failoverId, since: data.firstFailureAt ?? data.detectedAt };
      return next;
    case 'FailoverCompleted': {
      const since = data.timeline.firstFailureAt ?? data.timeline.detectedAt;
      const outageMs = Math.max(0, ms(data.timeline.routedAt) - ms(since));
      next.downtimeMs = state.downtimeMs + outageMs;
      next.openOutage = null;
      next.counts = { ...state.counts, failovers: state.counts.failovers + 1 };
      next.failovers = lastN([
        ...state.failovers,
        // fromInstance: FailoverCompleted v2 (null when upcast from v1).
        { failoverId: data.failoverId, from: data.fromInstance ?? null, to: data.newPrimary, rtoMs: data.rtoMs, lagBytes: data.replicationLagBytes, completedAt: data.timeline.routedAt },
      ]);
      if (data.rtoMs > targets.rtoMs) {
        next.sloBreaches = lastN([
          ...state.sloBreaches,
          { kind: 'rto', at: entry.recordedAt, valueMs: data.rtoMs, targetMs: targets.rtoMs, detail: `failover ${data.failoverId} to ${data.newPrimary}` },
        ]);
      }
      return next;
    }
    case 'FailoverAbandoned': {
      // Only the attempt that opened the outage can end it. An unplanned one given up leaves the
      // primary down: the outage goes on (a later attempt's completion ends it).
      const open = state.openOutage;
      if (!open || open.failoverId !== data.failoverId || data.planned !== true) return next;
      // A switchover given up: the old primary takes writes again. The time it was read-only counts.
      next.downtimeMs = state.downtimeMs + Math.max(0, ms(data.at) - ms(open.since));
      next.openOutage = null;
      return next;
    }
    default:
      return next;
  }
};

/**
 * A verdict (a scrub, usually) found copies of the verified recovery point bad: they no longer
 * count, and when 3-2-1 held before and no longer does, the protection says which event withdrew it.
 */
const withdrawBadCopies = (next: ResourceState, verified: NonNullable<ResourceState['lastVerified']>, entry: LedgerEntry) => {
  const checks = ((entry.event.data as Record<string, any>).copies ?? []) as { location: string; readable: boolean; sizeMatch: boolean; hashMatch: boolean }[];
  const bad = new Set(checks.filter((c) => !(c.readable && c.sizeMatch && c.hashMatch)).map((c) => c.location));
  const passedCopies = verified.passedCopies.filter((c) => !bad.has(c.location));
  if (passedCopies.length === verified.passedCopies.length) return;
  const threeTwoOne = threeTwoOneOf(passedCopies);
  next.lastVerified = { ...verified, passedCopies, threeTwoOne };
  if (verified.threeTwoOne.compliant && !threeTwoOne.compliant) {
    const lost = { at: entry.event.occurredAt, eventId: entry.event.id, backupId: verified.backupId, locations: [...bad] };
    next.protection = { ...(next.protection ?? emptyProtection()), threeTwoOneLost: lost };
  }
};

/** What depends on the moment you ask: RPO exposure and availability up to `now`. */
export const assessAt = (state: ResourceState, now: Date, targets: SloTargets = DEFAULT_SLO_TARGETS) => {
  const nowMs = now.getTime();
  const rpoExposureMs = state.lastVerified ? Math.max(0, nowMs - ms(state.lastVerified.recoveryPoint)) : null;
  const openMs = state.openOutage ? Math.max(0, nowMs - ms(state.openOutage.since)) : 0;
  const windowMs = Math.max(1, nowMs - ms(state.trackedSince));
  const availability = Math.max(0, 1 - (state.downtimeMs + openMs) / windowMs);
  return {
    rpoExposureMs,
    rpoBreached: rpoExposureMs === null || rpoExposureMs > targets.rpoMs,
    availability,
    availabilityBreached: availability < targets.availability,
    threeTwoOneCompliant: state.lastVerified?.threeTwoOne.compliant ?? false,
  };
};
