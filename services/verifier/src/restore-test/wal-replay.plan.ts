import { lsnValue } from '@continuity/artifacts';
import type { BaseBackupFacts } from '@continuity/contracts';

/** An archived WAL file as the replay needs it (the verifier's WAL record). */
export interface ReplayFile {
  name: string;
  kind: 'segment' | 'history';
  timeline: number;
  startLsn: string;
  endLsn: string;
  partial: boolean;
}

export interface ReplayRestorePoint {
  name: string;
  lsn: string;
  timeline: number;
}

export type ReplayTarget =
  | { kind: 'restore-point'; name: string; lsn: string }
  /** No restore point: replay every archived file; `lsn` is what must be reached at least. */
  | { kind: 'latest'; lsn: string; detail: string };

export type ReplayPlan<F extends ReplayFile> = { files: F[]; target: ReplayTarget } | { files: null; why: string };

/**
 * Restore point names go into the scratch server's configuration: only names made of these
 * characters are used (anything else, a quote or a newline, could say more than a name).
 */
export const SAFE_RESTORE_POINT = /^[A-Za-z0-9_.:-]{1,63}$/;

/**
 * What a base backup's replay test fetches and where it stops (pure). The files: every history
 * file and every segment on the backup's timeline or a later one that ends after the backup
 * starts. The target: the newest restore point after the backup's end that the archived WAL
 * reaches (its name safe to configure); when there is none, the newest archived WAL — replay runs
 * to the end of the archive and must reach at least the start of the newest finished segment
 * (a record crossing into a segment not archived yet cannot be replayed), or its end when a later
 * (partial) segment holds the continuation.
 */
export const planReplay = <F extends ReplayFile>(archived: readonly F[], restorePoints: readonly ReplayRestorePoint[], facts: Pick<BaseBackupFacts, 'startLsn' | 'endLsn' | 'timeline'>): ReplayPlan<F> => {
  const start = lsnValue(facts.startLsn);
  const end = lsnValue(facts.endLsn);
  const files = archived.filter((f) => f.kind === 'history' || (f.timeline >= facts.timeline && lsnValue(f.endLsn) > start));
  const segments = files.filter((f) => f.kind === 'segment');
  const finished = segments.filter((f) => !f.partial).sort((a, b) => a.timeline - b.timeline || (lsnValue(a.startLsn) < lsnValue(b.startLsn) ? -1 : 1));
  const newest = finished.at(-1);
  if (!newest || lsnValue(newest.endLsn) <= end) return { files: null, why: 'no WAL archived after the base backup ends' };
  const reach = segments.reduce((max, f) => (lsnValue(f.endLsn) > max ? lsnValue(f.endLsn) : max), 0n);
  const point = restorePoints
    .filter((p) => p.timeline >= facts.timeline && lsnValue(p.lsn) > end && lsnValue(p.lsn) <= reach && SAFE_RESTORE_POINT.test(p.name))
    .sort((a, b) => (lsnValue(a.lsn) < lsnValue(b.lsn) ? 1 : -1))[0];
  if (point) return { files, target: { kind: 'restore-point', name: point.name, lsn: point.lsn } };
  const continued = segments.some((f) => f.timeline === newest.timeline && f.startLsn === newest.endLsn);
  return {
    files,
    target: continued
      ? { kind: 'latest', lsn: newest.endLsn, detail: `the end of the newest finished segment ${newest.name}` }
      : { kind: 'latest', lsn: newest.startLsn, detail: `into the newest finished segment ${newest.name} (none archived after it)` },
  };
};
