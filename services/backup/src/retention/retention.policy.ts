/**
 * Which backups a retention policy keeps (pure; the clock is passed in). Semantics follow
 * restic/borg "forget": keep the `keepLast` newest; for `daily`/`weekly`/`monthly` N, keep the
 * newest backup of each of the N most recent days / ISO weeks / months that HAVE backups (UTC).
 * Counting periods with backups, not calendar periods back from now, means backups that stopped
 * (a broken source) never make retention eat the last good ones.
 *
 * Two guards on top: the newest backup whose verification passed is never expired (whatever the
 * rules say), and a backup from the future (clock skew) is kept.
 */
export interface RetentionRules {
  keepLast: number;
  daily: number;
  weekly: number;
  monthly: number;
}

export interface RetentionCandidate {
  backupId: string;
  recoveryPoint: string;
  /** The latest verification verdict, if any. */
  verdict: 'passed' | 'failed' | 'unverifiable' | null;
}

export interface RetentionDecision {
  keep: { backupId: string; recoveryPoint: string; reasons: string[] }[];
  expire: { backupId: string; recoveryPoint: string; reason: string }[];
}

const pad = (n: number) => String(n).padStart(2, '0');
export const dayOf = (d: Date) => `${d.getUTCFullYear()}-${pad(d.getUTCMonth() + 1)}-${pad(d.getUTCDate())}`;
export const monthOf = (d: Date) => `${d.getUTCFullYear()}-${pad(d.getUTCMonth() + 1)}`;
/** ISO-8601 week, e.g. 2026-W09 (weeks start on Monday; week 1 holds the year's first Thursday). */
export const isoWeekOf = (d: Date) => {
  const t = new Date(Date.UTC(d.getUTCFullYear(), d.getUTCMonth(), d.getUTCDate()));
  const day = t.getUTCDay() || 7;
  t.setUTCDate(t.getUTCDate() + 4 - day);
  const yearStart = Date.UTC(t.getUTCFullYear(), 0, 1);
  const week = Math.ceil(((t.getTime() - yearStart) / 86_400_000 + 1) / 7);
  return `${t.getUTCFullYear()}-W${pad(week)}`;
};

export const describeRules = (r: RetentionRules) =>
  [r.keepLast && `keep-last ${r.keepLast}`, r.daily && `daily ${r.daily}`, r.weekly && `weekly ${r.weekly}`, r.monthly && `monthly ${r.monthly}`]
    .filter(Boolean)
    .join(', ');

export const selectRetention = (candidates: readonly RetentionCandidate[], rules: RetentionRules, now: Date): RetentionDecision => {
  const sorted = [...candidates].sort((a, b) => Date.parse(b.recoveryPoint) - Date.parse(a.recoveryPoint) || (a.backupId < b.backupId ? 1 : -1));
  const reasons = new Map<string, string[]>(sorted.map((c) => [c.backupId, []]));
  const keep = (c: RetentionCandidate, why: string) => reasons.get(c.backupId)!.push(why);

  sorted.slice(0, rules.keepLast).forEach((c, i) => keep(c, `last ${i + 1} of ${rules.keepLast}`));
  const byPeriod = (count: number, label: string, periodOf: (d: Date) => string) => {
    const seen = new Set<string>();
    for (const c of sorted) {
      if (seen.size >= count) break;
      const period = periodOf(new Date(c.recoveryPoint));
      if (seen.has(period)) continue;
      seen.add(period);
      keep(c, `${label} ${period}`);
    }
  };
  byPeriod(rules.daily, 'daily', dayOf);
  byPeriod(rules.weekly, 'weekly', isoWeekOf);
  byPeriod(rules.monthly, 'monthly', monthOf);
  const newestVerified = sorted.find((c) => c.verdict === 'passed');
  if (newestVerified) keep(newestVerified, 'newest verified backup');
  for (const c of sorted) if (Date.parse(c.recoveryPoint) > now.getTime()) keep(c, 'recovery point in the future (clock skew?)');

  const decision: RetentionDecision = { keep: [], expire: [] };
  for (const c of sorted) {
    const why = reasons.get(c.backupId)!;
    if (why.length) decision.keep.push({ backupId: c.backupId, recoveryPoint: c.recoveryPoint, reasons: why });
    else decision.expire.push({ backupId: c.backupId, recoveryPoint: c.recoveryPoint, reason: `beyond ${describeRules(rules)}` });
  }
  return decision;
};
