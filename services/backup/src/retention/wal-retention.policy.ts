import { lsnValue } from '@continuity/artifacts';

/**
 * Which archived WAL segments retention removes (pure). A retained base backup on timeline T
 * starting at S needs every segment of T ending after S and every segment of a later timeline
 * (a restore may follow a timeline switch); a segment no retained base backup needs is expired.
 * History files are never expired (tiny, and a restore needs the whole timeline lineage). With no
 * retained base backup nothing is expired: WAL without a base backup is not recoverable, but
 * deleting it would take away what a base backup being taken right now may need.
 */
export interface RetainedBaseBackup {
  backupId: string;
  timeline: number;
  startLsn: string;
  /** When the backup finished: the earliest moment a restore from it can reach. */
  finishedAt: string;
}

export interface ArchivedWal {
  name: string;
  kind: 'segment' | 'history';
  timeline: number;
  startLsn: string;
  endLsn: string;
}

export type WalExpiryDecision =
  | { expire: []; skipped: string }
  | {
      expire: ArchivedWal[];
      keptFrom: { backupId: string; timeline: number; startLsn: string };
      earliestRecoverable: { backupId: string; at: string };
      reason: string;
    };

const neededBy = (backup: RetainedBaseBackup, wal: ArchivedWal) =>
  wal.timeline > backup.timeline || (wal.timeline === backup.timeline && lsnValue(wal.endLsn) > lsnValue(backup.startLsn));

export const selectWalExpiry = (retained: readonly RetainedBaseBackup[], archived: readonly ArchivedWal[]): WalExpiryDecision => {
  if (!retained.length) return { expire: [], skipped: 'no retained base backup: every archived WAL segment is kept' };
  const oldest = [...retained].sort((a, b) => (lsnValue(a.startLsn) < lsnValue(b.startLsn) ? -1 : lsnValue(a.startLsn) > lsnValue(b.startLsn) ? 1 : a.timeline - b.timeline))[0]!;
  const expire = archived
    .filter((w) => w.kind === 'segment' && !retained.some((b) => neededBy(b, w)))
    .sort((a, b) => (a.name < b.name ? -1 : 1));
  return {
    expire,
    keptFrom: { backupId: oldest.backupId, timeline: oldest.timeline, startLsn: oldest.startLsn },
    earliestRecoverable: { backupId: oldest.backupId, at: oldest.finishedAt },
    reason: `before the start (${oldest.startLsn}, timeline ${oldest.timeline}) of the oldest retained base backup ${oldest.backupId}`,
  };
};
