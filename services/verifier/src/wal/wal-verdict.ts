import { EVENT_LIMITS, type WalVerifiedV1 } from '@continuity/contracts';
import type { ChainGap, ChainState } from './wal-chain.js';

/** One copy of one archived WAL file, as re-read. */
export interface WalCopyOutcome {
  name: string;
  location: string;
  uri: string;
  status: 'good' | 'bad' | 'unverifiable';
  error: string | null;
}

const MAX_LISTED = 1_000;

const clip = (text: string, max = EVENT_LIMITS.text) => (text.length <= max ? text : `${text.slice(0, max - 1)}…`);

/**
 * The WalVerified data of one check (pure: the time comes in). Failed when a copy did not match or
 * the chain has a gap (every open gap, not only new ones: the chain stays broken until the missing
 * WAL arrives); else unverifiable when a copy could not be read by this verifier; else passed.
 */
export const walVerified = (input: {
  trigger: 'new' | 'scrub';
  filesChecked: number;
  outcomes: readonly WalCopyOutcome[];
  chain: ChainState;
  verifiedAt: Date;
}): WalVerifiedV1 => {
  const tally = new Map<string, { location: string; ok: number; failed: number; unverifiable: number }>();
  for (const o of input.outcomes) {
    const t = tally.get(o.location) ?? { location: o.location, ok: 0, failed: 0, unverifiable: 0 };
    tally.set(o.location, t);
    if (o.status === 'good') t.ok++;
    else if (o.status === 'bad') t.failed++;
    else t.unverifiable++;
  }
  const failedCopies = input.outcomes
    .filter((o) => o.status === 'bad')
    .slice(0, MAX_LISTED)
    .map((o) => ({ name: o.name, location: o.location, uri: o.uri, error: clip(o.error ?? 'did not match') }));
  const gaps = input.chain.gaps.slice(0, MAX_LISTED).map((g) => ({ ...g, detail: clip(g.detail) }));
  const verdict = failedCopies.length || gaps.length ? 'failed' : input.outcomes.some((o) => o.status === 'unverifiable') ? 'unverifiable' : 'passed';
  return {
    trigger: input.trigger,
    verdict,
    segmentsChecked: input.filesChecked,
    copies: [...tally.values()].slice(0, EVENT_LIMITS.copies),
    failedCopies,
    gaps,
    timelines: input.chain.timelines.slice(0, MAX_LISTED),
    verifiedAt: input.verifiedAt.toISOString(),
  };
};

/** The reason of a ResourceDegraded for a gap first seen. */
export const gapReason = (resource: string, gap: ChainGap) =>
  clip(`WAL archive of ${resource} has a gap on timeline ${gap.timeline} from ${gap.fromLsn} to ${gap.toLsn}: ${gap.detail}; no restore can replay past ${gap.fromLsn}`);

/** The reason of a ResourceDegraded for the copies a check found bad (null when none). */
export const badCopiesReason = (resource: string, outcomes: readonly WalCopyOutcome[]) => {
  const bad = outcomes.filter((o) => o.status === 'bad');
  if (!bad.length) return null;
  return clip(`WAL archive of ${resource}: ${bad.length} cop${bad.length === 1 ? 'y' : 'ies'} failed the check: ${bad.map((o) => `${o.name} in ${o.location} (${o.error ?? 'did not match'})`).join('; ')}`);
};
