import { lsnDiffBytes } from './lsn.js';

interface MemberView {
  name: string;
  observation: { reachable: boolean; currentLsn?: string; replayLsn?: string } | null;
}

/**
 * WAL bytes each standby has not replayed, behind the primary's current LSN, from the latest probe
 * of each (pure). Only members the probes could read: an unreachable standby or primary has no
 * lag to report (the failed-probes gauge says so), rather than a made-up number.
 */
export const standbyLag = (primary: string, members: readonly MemberView[]): { member: string; bytes: number }[] => {
  const current = members.find((m) => m.name === primary)?.observation;
  if (!current?.reachable || !current.currentLsn) return [];
  const lags: { member: string; bytes: number }[] = [];
  for (const m of members) {
    if (m.name === primary || !m.observation?.reachable || !m.observation.replayLsn) continue;
    try {
      const behind = lsnDiffBytes(current.currentLsn, m.observation.replayLsn);
      lags.push({ member: m.name, bytes: behind > 0n ? Number(behind) : 0 });
    } catch {
      // an LSN the probe could not parse: nothing to report for this member
    }
  }
  return lags;
};
