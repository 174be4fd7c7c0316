/**
 * Which backups a scrub round re-verifies (pure). Every retained backup must be re-read at least
 * once per `periodMs`; rounds run every `everyMs`. A round takes:
 *  - every backup that would go past the period before the next round (`due`), oldest-checked
 *    first — the guarantee;
 *  - then, up to its share of the period's work (⌈N × every / period⌉), the oldest-checked of the
 *    rest that were not verified in the last half-period (`ahead`) — the spreading: work is taken
 *    early in small portions instead of all at once when it falls due (e.g. after many backups
 *    were made or restored on the same day).
 * A backup never verified at all counts as checked at the beginning of time.
 */
export interface ScrubCandidate {
  backupId: string;
  /** When it was last verified (epoch ms), or null. */
  lastVerifiedAt: number | null;
}

export interface ScrubPlanInput {
  now: number;
  periodMs: number;
  everyMs: number;
  backups: readonly ScrubCandidate[];
}

export interface ScrubPlan {
  /** In the order to verify them: due first, then ahead; oldest-checked first within each. */
  backupIds: string[];
  due: number;
  ahead: number;
  /** The round's share: ⌈N × every / period⌉. */
  quota: number;
  /** A backup verified at or after this instant is not scrubbed again this round. */
  notVerifiedSince: number;
}

export const planScrub = ({ now, periodMs, everyMs, backups }: ScrubPlanInput): ScrubPlan => {
  const checked = (b: ScrubCandidate) => b.lastVerifiedAt ?? Number.NEGATIVE_INFINITY;
  const sorted = [...backups].sort((a, b) => checked(a) - checked(b) || (a.backupId < b.backupId ? -1 : 1));
  const quota = Math.ceil((backups.length * everyMs) / periodMs);
  const dueBefore = now - Math.max(0, periodMs - everyMs);
  const aheadBefore = now - periodMs / 2;
  const due = sorted.filter((b) => checked(b) <= dueBefore);
  const ahead = sorted.filter((b) => checked(b) > dueBefore && checked(b) <= aheadBefore).slice(0, Math.max(0, quota - due.length));
  return {
    backupIds: [...due, ...ahead].map((b) => b.backupId),
    due: due.length,
    ahead: ahead.length,
    quota,
    notVerifiedSince: aheadBefore,
  };
};
