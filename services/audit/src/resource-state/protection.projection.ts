import type { BackupCopy, WalSegment } from '@continuity/contracts';
import type { CopyPlacement, LedgerEntry, ResourceState } from './resource-state.projection.js';

/**
 * What a resource's recovery rests on, folded from the ledger beside its continuity state: the
 * backups still retained (and which of their copies a verdict found bad), the WAL archive's
 * progress and durability, the last restore and failover measured, and the SLO breaches and risks
 * the audit service itself announced (so "what is open" is read from the ledger, never from an
 * instance's memory). Pure: no clock, no I/O; `recoverableWindow` and `rpoExposure` take `now`.
 */
export interface RetainedBackup {
  backupId: string;
  /** The BackupCreated event. */
  eventId: string;
  method: string;
  /** The moment a restore of this backup alone lands on (a dump's recovery point, a base backup's end). */
  point: string;
  copies: CopyPlacement[];
  /** Locations whose copy a verdict found bad (unreadable, wrong size or hash) and none has found good since. */
  badCopies: string[];
  /** The last passed verdict on it; null: never verified. */
  verifiedEventId: string | null;
  /** Last verdict of any kind (new, scrub, manual): when its copies were last read. */
  checkedAt: string | null;
  base: { endLsn: string; timeline: number } | null;
}

export interface DurableMoment {
  at: string;
  eventId: string;
}

export interface WalProgress {
  /** The WalArchived shippedAt of the shipment holding the newest end LSN. */
  newestShippedAt: string;
  newestEndLsn: string;
  timeline: number;
  newestEventId: string;
  /** Newest shippedAt whose segments were in ≥ 1 / ≥ 3 copies. */
  durable1: DurableMoment | null;
  durable3: DurableMoment | null;
  segments: number;
}

export interface OpenFinding {
  id: string;
  since: string;
  eventId: string;
}

export interface Protection {
  hasBackups: boolean;
  hasReplication: boolean;
  /** Oldest point first, at most MAX_RETAINED. */
  retained: RetainedBackup[];
  wal: WalProgress | null;
  walGap: { at: string; eventId: string; detail: string } | null;
  /** The IntegrityVerified that made the current verified recovery point. */
  verifiedEventId: string | null;
  /** A verdict found a copy of the verified recovery point bad and 3-2-1 no longer holds. */
  threeTwoOneLost: { at: string; eventId: string; backupId: string; locations: string[] } | null;
  /** The newest passed restore test of a base backup: the last verified point-in-time restore. */
  lastPitr: { backupId: string; at: string; eventId: string; restoreMs: number | null; point: string } | null;
  /** The newest measured recovery: a completed failover (its RTO) or a restore (its duration). */
  lastRecovery: { kind: 'failover' | 'restore'; ms: number; at: string; eventId: string } | null;
  /** The newest FailoverCompleted/Triggered that added downtime. */
  lastOutageEventId: string | null;
  standby: { at: string; eventId: string; eligible: number; maxLagBytes: number | null } | null;
  /** Optional: folded only when DrillCompleted events exist in the ledger. */
  lastDrill: { at: string; eventId: string; passed: boolean } | null;
  openSlo: Record<string, OpenFinding>;
  openRisks: Record<string, OpenFinding & { severity: string; summary: string }>;
  /** Findings ended so far, per kind or rule: part of the next finding's id, so a re-raised one is new. */
  generations: Record<string, number>;
}

export const MAX_RETAINED = 128;

export const emptyProtection = (): Protection => ({
  hasBackups: false,
  hasReplication: false,
  retained: [],
  wal: null,
  walGap: null,
  verifiedEventId: null,
  threeTwoOneLost: null,
  lastPitr: null,
  lastRecovery: null,
  lastOutageEventId: null,
  standby: null,
  lastDrill: null,
  openSlo: {},
  openRisks: {},
  generations: {},
});

const ms = (iso: string) => Date.parse(iso);

/** `X/Y` WAL positions compared exactly (they are 64-bit). */
export const lsnValue = (lsn: string): bigint => {
  const [hi, lo] = lsn.split('/');
  return (BigInt(`0x${hi}`) << 32n) + BigInt(`0x${lo}`);
};

const later = (a: DurableMoment | null, b: DurableMoment): DurableMoment => (a && ms(a.at) >= ms(b.at) ? a : b);

const foldWal = (wal: WalProgress | null, eventId: string, shippedAt: string, segments: WalSegment[]): { wal: WalProgress; gap: string | null } => {
  let next: WalProgress = wal ?? { newestShippedAt: shippedAt, newestEndLsn: '0/0', timeline: 0, newestEventId: eventId, durable1: null, durable3: null, segments: 0 };
  let gap: string | null = null;
  const walSegments = segments.filter((s) => s.kind === 'segment').sort((a, b) => a.timeline - b.timeline || (lsnValue(a.startLsn) < lsnValue(b.startLsn) ? -1 : 1));
  for (const segment of walSegments) {
    const moment = { at: shippedAt, eventId };
    if (segment.copies.length >= 1) next = { ...next, durable1: later(next.durable1, moment) };
    if (segment.copies.length >= 3) next = { ...next, durable3: later(next.durable3, moment) };
    const sameTimeline = segment.timeline === next.timeline;
    if (wal && sameTimeline && lsnValue(segment.startLsn) > lsnValue(next.newestEndLsn)) {
      gap = `WAL ${next.newestEndLsn}…${segment.startLsn} on timeline ${segment.timeline} was never archived (segment ${segment.name})`;
    }
    if (segment.timeline > next.timeline || (sameTimeline && lsnValue(segment.endLsn) >= lsnValue(next.newestEndLsn))) {
      next = { ...next, newestEndLsn: segment.endLsn, timeline: segment.timeline, newestShippedAt: shippedAt, newestEventId: eventId };
    }
  }
  return { wal: { ...next, segments: next.segments + walSegments.length }, gap };
};

/**
 * `backup` inserted in point order. Backups nearly always arrive in order: one comparison with the
 * newest, and a binary search otherwise (every event of a busy resource goes through here).
 */
const insertByPoint = (retained: RetainedBackup[], backup: RetainedBackup): RetainedBackup[] => {
  const point = ms(backup.point);
  let lo = 0;
  let hi = retained.length;
  if (hi > 0 && ms(retained[hi - 1]!.point) <= point) lo = hi;
  while (lo < hi) {
    const mid = (lo + hi) >> 1;
    if (ms(retained[mid]!.point) <= point) lo = mid + 1;
    else hi = mid;
  }
  const next = retained.slice();
  next.splice(lo, 0, backup);
  return next;
};

const WAL_GAP_REASON = /\bwal\b[^.]*\bgap\b|\bgap\b[^.]*\bwal\b/i;

/** The fold of one ledger entry into a resource's protection. Returns `current` when nothing changes. */
export const evolveProtection = (current: Protection | undefined, entry: LedgerEntry): Protection | undefined => {
  const { event } = entry;
  const data = event.data as Record<string, any>;
  const p = (): Protection => current ?? emptyProtection();
  switch (event.type) {
    case 'BackupCreated': {
      const copies: CopyPlacement[] = (data.copies as BackupCopy[]).map(({ location, site, medium }) => ({ location, site, medium }));
      const base = data.basebackup ? { endLsn: data.basebackup.endLsn as string, timeline: data.basebackup.timeline as number } : null;
      const backup: RetainedBackup = { backupId: data.backupId, eventId: event.id, method: data.method, point: data.recoveryPoint, copies, badCopies: [], verifiedEventId: null, checkedAt: null, base };
      const retained = insertByPoint(p().retained.filter((b) => b.backupId !== backup.backupId), backup);
      // A base backup after a WAL gap starts a new chain: the gap no longer limits recovery.
      const walGap = base && p().walGap && ms(backup.point) >= ms(p().walGap!.at) ? null : p().walGap;
      return { ...p(), hasBackups: true, retained: retained.slice(Math.max(0, retained.length - MAX_RETAINED)), walGap };
    }
    case 'BackupFailed':
      return current?.hasBackups ? current : { ...p(), hasBackups: true };
    case 'BackupExpired':
      return current ? { ...current, retained: current.retained.filter((b) => b.backupId !== data.backupId) } : current;
    case 'WalArchived': {
      const folded = foldWal(p().wal, event.id, data.shippedAt, data.segments as WalSegment[]);
      const walGap = folded.gap ? { at: data.shippedAt as string, eventId: event.id, detail: folded.gap } : p().walGap;
      return { ...p(), hasBackups: true, wal: folded.wal, walGap };
    }
    case 'WalGapDetected':
      // The backup service's own finding: a hole in the archive it could not close (a base backup follows).
      return { ...p(), walGap: { at: data.detectedAt, eventId: event.id, detail: `${data.fromLsn}…${data.toLsn} on timeline ${data.timeline}: ${data.reason}` } };
    case 'ResourceDegraded':
      if (!WAL_GAP_REASON.test(String(data.reason ?? ''))) return current;
      return { ...p(), walGap: { at: event.occurredAt, eventId: event.id, detail: String(data.reason) } };
    case 'IntegrityVerified':
      return foldVerdict(p(), entry, data);
    case 'RestorePerformed': {
      if (data.outcome !== 'restored') return current;
      const restoreMs = Math.max(0, ms(data.finishedAt) - ms(data.startedAt));
      return { ...p(), lastRecovery: { kind: 'restore', ms: restoreMs, at: data.finishedAt, eventId: event.id } };
    }
    case 'FailoverTriggered': {
      const candidates = (data.candidates ?? []) as { eligible: boolean; lagBytes: number | null }[];
      const lags = candidates.map((c) => c.lagBytes).filter((l): l is number => typeof l === 'number');
      const standby = { at: event.occurredAt, eventId: event.id, eligible: candidates.filter((c) => c.eligible).length, maxLagBytes: lags.length ? Math.max(...lags) : null };
      return { ...p(), hasReplication: true, standby, lastOutageEventId: data.toInstance === null ? event.id : p().lastOutageEventId };
    }
    case 'FailoverCompleted':
      return {
        ...p(),
        hasReplication: true,
        lastOutageEventId: event.id,
        lastRecovery: { kind: 'failover', ms: data.rtoMs, at: data.timeline.routedAt, eventId: event.id },
        standby: p().standby && { ...p().standby!, at: event.occurredAt, eventId: event.id, maxLagBytes: data.replicationLagBytes ?? null },
      };
    case 'SynchronousReplicationChanged': {
      const eligible = ((data.standbys ?? []) as { eligible: boolean }[]).filter((s) => s.eligible).length;
      return { ...p(), hasReplication: true, standby: { at: event.occurredAt, eventId: event.id, eligible, maxLagBytes: p().standby?.maxLagBytes ?? null } };
    }
    case 'WalVerified': {
      // Optional fold: the verifier's check of the WAL chain (another slice's event), read defensively.
      const gaps = Array.isArray(data.gaps) ? data.gaps.length : 0;
      if (gaps === 0) return current;
      return { ...p(), walGap: { at: event.occurredAt, eventId: event.id, detail: `the verifier found ${gaps} gap(s) in the WAL chain` } };
    }
    case 'DrillCompleted': {
      // Optional fold: drills are another slice's events; read defensively, whatever version.
      const outcome = String(data.outcome ?? data.status ?? data.verdict ?? (data.passed === true ? 'passed' : 'failed'));
      return { ...p(), lastDrill: { at: event.occurredAt, eventId: event.id, passed: outcome === 'passed' } };
    }
    case 'SloBreached':
      return { ...p(), openSlo: { ...p().openSlo, [data.kind]: { id: data.breachId, since: data.since, eventId: event.id } } };
    case 'SloRestored': {
      const open = p().openSlo[data.kind];
      if (!open || open.id !== data.breachId) return current;
      const { [data.kind]: _ended, ...rest } = p().openSlo;
      return { ...p(), openSlo: rest, generations: bump(p().generations, `slo:${data.kind}`) };
    }
    case 'RiskIdentified':
      return { ...p(), openRisks: { ...p().openRisks, [data.rule]: { id: data.riskId, since: event.occurredAt, eventId: event.id, severity: data.severity, summary: data.summary } } };
    case 'RiskResolved': {
      const open = p().openRisks[data.rule];
      if (!open || open.id !== data.riskId) return current;
      const { [data.rule]: _ended, ...rest } = p().openRisks;
      return { ...p(), openRisks: rest, generations: bump(p().generations, `risk:${data.rule}`) };
    }
    default:
      return current;
  }
};

const bump = (generations: Record<string, number>, key: string) => ({ ...generations, [key]: (generations[key] ?? 0) + 1 });

/** A verdict marks copies bad or good again; a passed restore test of a base backup is a verified point-in-time restore. */
const foldVerdict = (p: Protection, entry: LedgerEntry, data: Record<string, any>): Protection => {
  const checks = (data.copies ?? []) as { location: string; hashMatch: boolean; readable: boolean; sizeMatch: boolean }[];
  const bad = checks.filter((c) => !(c.readable && c.sizeMatch && c.hashMatch)).map((c) => c.location);
  const good = new Set(checks.filter((c) => c.readable && c.sizeMatch && c.hashMatch).map((c) => c.location));
  let lastPitr = p.lastPitr;
  const retained = p.retained.map((b) => {
    if (b.backupId !== data.backupId) return b;
    const badCopies = [...new Set([...b.badCopies.filter((l) => !good.has(l)), ...bad])];
    const passed = data.verdict === 'passed';
    if (passed && b.base && data.restoreTest?.status === 'passed' && (!lastPitr || ms(b.point) >= ms(lastPitr.point))) {
      lastPitr = { backupId: b.backupId, at: entry.event.occurredAt, eventId: entry.event.id, restoreMs: data.restoreTest.durationMs ?? null, point: b.point };
    }
    return { ...b, badCopies, checkedAt: entry.event.occurredAt, verifiedEventId: passed ? entry.event.id : b.verifiedEventId };
  });
  return { ...p, retained, lastPitr };
};

/** Copies of a retained backup no verdict has found bad. */
export const healthyCopies = (b: RetainedBackup) => b.copies.filter((c) => !b.badCopies.includes(c.location));

/** How many of the backup's copies are not known bad (`healthyCopies(b).length`, without the list: read for every retained backup on every read). */
const healthyCount = (b: RetainedBackup): number => {
  if (b.badCopies.length === 0) return b.copies.length;
  let n = 0;
  for (const c of b.copies) if (!b.badCopies.includes(c.location)) n++;
  return n;
};

/** Earliest and latest restorable moment: the oldest retained backup's point, and the newest WAL shipped (after a retained base backup) or backup. */
export const recoverableWindow = (p: Protection | undefined): { earliest: string; latest: string; walBased: boolean } | null => {
  const usable = (p?.retained ?? []).filter((b) => healthyCount(b) > 0);
  if (!p || usable.length === 0) return null;
  const newestBackup = usable.reduce((a, b) => (ms(b.point) > ms(a.point) ? b : a));
  const oldestBase = usable.find((b) => b.base !== null);
  const walLatest = p.wal && oldestBase && !p.walGap && ms(p.wal.newestShippedAt) > ms(newestBackup.point) ? p.wal.newestShippedAt : null;
  return { earliest: usable[0]!.point, latest: walLatest ?? newestBackup.point, walBased: walLatest !== null };
};

/** Newest moment durable in ≥ `copies` copies: a retained backup's point, or WAL shipped after a retained base backup. */
export const newestDurable = (p: Protection | undefined, copies: 1 | 3): DurableMoment | null => {
  if (!p) return null;
  let newest: RetainedBackup | null = null;
  let newestMs = -Infinity;
  for (const b of p.retained) {
    if (healthyCount(b) < copies) continue;
    const point = ms(b.point);
    if (point > newestMs) [newest, newestMs] = [b, point]; // the first of equal points, as `later` keeps
  }
  let best: DurableMoment | null = newest ? { at: newest.point, eventId: newest.eventId } : null;
  const wal = copies === 3 ? p.wal?.durable3 : p.wal?.durable1;
  const base = p.retained.find((b) => b.base !== null && healthyCount(b) > 0);
  if (wal && base && !p.walGap && ms(wal.at) >= ms(base.point)) best = later(best, wal);
  return best;
};

/** RPO exposure now: how much would be lost if every live copy of the resource went now, for ≥ 3 and ≥ 1 durable copies. */
export const rpoExposure = (p: Protection | undefined, now: Date) => {
  const exposure = (d: DurableMoment | null) => (d ? Math.max(0, now.getTime() - ms(d.at)) : null);
  const d3 = newestDurable(p, 3);
  const d1 = newestDurable(p, 1);
  return { threeCopiesMs: exposure(d3), oneCopyMs: exposure(d1), durable3: d3, durable1: d1, walBased: !!p?.wal };
};

/**
 * The newest moment the resource can be recovered to, as far as the ledger proves it: the newest
 * verified recovery point, or WAL durable in ≥ 1 copy shipped after a verified base backup (no gap).
 */
export const recoverableMoment = (state: ResourceState): DurableMoment | null => {
  const p = state.protection;
  const verified: DurableMoment | null = state.lastVerified ? { at: state.lastVerified.recoveryPoint, eventId: p?.verifiedEventId ?? '' } : null;
  const verifiedBase = p?.retained.find((b) => b.base !== null && b.verifiedEventId !== null && healthyCount(b) > 0);
  const wal = verifiedBase ? newestDurable({ ...p!, retained: [verifiedBase] }, 1) : null;
  if (!wal || ms(wal.at) < ms(verifiedBase!.point)) return verified;
  return verified && ms(verified.at) >= ms(wal.at) ? verified : wal;
};

/** What the resource state API shows beside the folded state: the recoverable window and RPO exposure at `now`. */
export const assessProtection = (state: ResourceState, now: Date) => {
  const p = state.protection;
  const recoverable = recoverableMoment(state);
  return {
    at: now.toISOString(),
    recoverableWindow: recoverableWindow(p),
    rpoExposure: { ...rpoExposure(p, now), recoverableMs: recoverable ? Math.max(0, now.getTime() - ms(recoverable.at)) : null, recoverableAt: recoverable?.at ?? null },
    lastVerifiedPitr: p?.lastPitr ?? null,
    lastDrill: p?.lastDrill ?? null,
    openSlo: p?.openSlo ?? {},
    openRisks: p?.openRisks ?? {},
  };
};
