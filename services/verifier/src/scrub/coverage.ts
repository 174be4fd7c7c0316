import { formatDuration } from '../config/duration.js';
import type { BackupRow } from '../verification/verification.store.js';

/** What coverage needs of an archived WAL file. */
export interface WalFileCoverage {
  resource: string;
  lastCheckedAt: string | null;
  lastOk: boolean | null;
  receivedAt: string;
}

/**
 * When every retained backup was last verified and whether it is overdue for the scrub period
 * (pure: the time comes in). A never-verified backup is due one period after it was received.
 */
export const coverageReport = (backups: readonly BackupRow[], options: { now: number; period: number; scrubEvery: number | null }, walFiles: readonly WalFileCoverage[] = []) => {
  const { now, period } = options;
  const rows = backups.map((b) => {
    const last = b.lastVerifiedAt ? Date.parse(b.lastVerifiedAt) : null;
    const dueBy = new Date((last ?? Date.parse(b.receivedAt)) + period).toISOString();
    return {
      backupId: b.backupId,
      resource: b.resource,
      recoveryPoint: b.recoveryPoint,
      lastVerifiedAt: b.lastVerifiedAt,
      lastVerdict: b.lastVerdict,
      lastTrigger: b.lastTrigger,
      lastVerificationId: b.lastVerificationId,
      dueBy,
      overdue: last === null ? now - Date.parse(b.receivedAt) > period : now - last > period,
    };
  });
  const verified = rows.filter((b) => b.lastVerifiedAt && !b.overdue);
  return {
    generatedAt: new Date(now).toISOString(),
    period: formatDuration(period),
    periodMs: period,
    scrubbing: options.scrubEvery === null ? null : { every: formatDuration(options.scrubEvery) },
    retained: rows.length,
    verifiedWithinPeriod: verified.length,
    notPassed: rows.filter((b) => b.lastVerdict && b.lastVerdict !== 'passed').length,
    neverVerified: rows.filter((b) => !b.lastVerifiedAt).length,
    overdue: rows.filter((b) => b.overdue).length,
    backups: rows,
    wal: walCoverage(walFiles, now, period),
  };
};

/** Archived WAL files: how many were re-read within the period, never, or failed their last check. */
export const walCoverage = (files: readonly WalFileCoverage[], now: number, period: number) => {
  const overdue = (f: WalFileCoverage) => now - Date.parse(f.lastCheckedAt ?? f.receivedAt) > period;
  return {
    archivedFiles: files.length,
    verifiedWithinPeriod: files.filter((f) => f.lastCheckedAt && !overdue(f)).length,
    neverVerified: files.filter((f) => !f.lastCheckedAt).length,
    notPassed: files.filter((f) => f.lastOk === false).length,
    overdue: files.filter(overdue).length,
  };
};

/** Per resource: the share of its retained backups verified within the period, and how many are overdue (for the metrics). */
export const coverageByResource = (backups: readonly BackupRow[], options: { now: number; period: number }) => {
  const byResource = new Map<string, BackupRow[]>();
  for (const b of backups) byResource.set(b.resource, [...(byResource.get(b.resource) ?? []), b]);
  return [...byResource].map(([resource, rows]) => {
    const report = coverageReport(rows, { ...options, scrubEvery: null });
    return { resource, ratio: report.retained === 0 ? 1 : report.verifiedWithinPeriod / report.retained, overdue: report.overdue };
  });
};
