import { lsnValue } from '@continuity/artifacts';
import { lsnText, segmentNameAt, segmentStart } from './wal-position.js';

/**
 * Whether the WAL archive of a resource can continue without a hole (pure). The archive needs the
 * WAL from `needFrom` (where `pg_receivewal` resumes: the start of the segment it was writing, or
 * the end of what the copies hold when its spool is empty); the server can stream WAL only from
 * where it still has it: its slot's `restart_lsn` when the slot survived, or the oldest segment
 * left in its pg_wal. A slot dropped and recreated pins nothing older than its creation, so WAL
 * before that point is on the server only by chance (until the next checkpoint recycles it).
 */
export interface WalGapInput {
  /** The end of the WAL the copies hold, on the newest archived timeline; null when nothing was archived yet. */
  tip: { timeline: number; endLsn: string } | null;
  /** Where the spool makes pg_receivewal resume; null when the spool holds no WAL file. */
  spoolResumeLsn: string | null;
  /** The replication slot as found before (re)creating it. */
  slot: { existed: boolean; restartLsn: string | null };
  /** Where the slot pins WAL after this start (its restart_lsn, recreated or not); null when unknown. */
  slotRestartLsn: string | null;
  /** The start of the oldest WAL segment left in the server's pg_wal; null when it cannot be listed. */
  oldestOnServer: string | null;
  /** pg_receivewal said the WAL it asked for "has already been removed". */
  receiverRefused?: boolean;
}

export type WalGapDecision =
  | { gap: false; why: string }
  | { gap: true; timeline: number; fromLsn: string; toLsn: string; missingSegments: { first: string; last: string }; reason: string };

export const decideWalGap = (input: WalGapInput): WalGapDecision => {
  const needFrom = input.spoolResumeLsn ?? input.tip?.endLsn ?? null;
  if (needFrom === null || input.tip === null) return { gap: false, why: 'nothing archived yet: the archive starts where the slot is' };
  const need = lsnValue(needFrom);
  const pinned = input.slot.existed && input.slot.restartLsn !== null && lsnValue(segmentStart(input.slot.restartLsn)) <= need;
  if (pinned && !input.receiverRefused) return { gap: false, why: `the slot kept the WAL from ${input.slot.restartLsn}` };
  const onServer = input.oldestOnServer !== null && lsnValue(input.oldestOnServer) <= need;
  if (onServer && !input.receiverRefused) return { gap: false, why: `the server still holds the WAL from ${input.oldestOnServer}` };
  // Streaming can start again only where the (new) slot pins WAL, from the start of that segment.
  const candidates = [input.slotRestartLsn, input.oldestOnServer].filter((l): l is string => l !== null).map((l) => lsnValue(segmentStart(l)));
  const resume = candidates.length ? candidates.reduce((a, b) => (a > b ? a : b)) : null;
  if (resume === null || resume <= need) {
    // Nothing says where WAL starts again, or it starts before what we need: not a gap we can name.
    return input.receiverRefused
      ? gapOf(input.tip.timeline, needFrom, resume !== null && resume > need ? lsnText(resume) : needFrom, input, 'pg_receivewal was refused the WAL it needs (already removed on the server)')
      : { gap: false, why: 'the server can stream from where the archive stops' };
  }
  const cause = !input.slot.existed
    ? `the replication slot was gone (dropped) and was recreated at ${input.slotRestartLsn}`
    : input.receiverRefused
      ? 'pg_receivewal was refused the WAL it needs (already removed on the server)'
      : `the slot's restart_lsn ${input.slot.restartLsn} is past the end of the archive`;
  return gapOf(input.tip.timeline, needFrom, lsnText(resume), input, cause);
};

/** The segment files a gap spans on its timeline, both included. */
export const missingSegmentsOf = (timeline: number, fromLsn: string, toLsn: string) => {
  const last = lsnValue(toLsn) > lsnValue(fromLsn) ? lsnText(lsnValue(toLsn) - 1n) : fromLsn;
  return { first: segmentNameAt(timeline, fromLsn), last: segmentNameAt(timeline, last) };
};

const gapOf = (timeline: number, fromLsn: string, toLsn: string, input: WalGapInput, cause: string): WalGapDecision => {
  const missingSegments = missingSegmentsOf(timeline, fromLsn, toLsn);
  const range = missingSegments.first === missingSegments.last ? missingSegments.first : `${missingSegments.first}..${missingSegments.last}`;
  return {
    gap: true,
    timeline,
    fromLsn,
    toLsn,
    missingSegments,
    reason: `WAL ${fromLsn}-${toLsn} (segments ${range}) is missing from the archive and no longer on the server: ${cause}${input.oldestOnServer ? `; the oldest WAL left on the server starts at ${input.oldestOnServer}` : ''}`,
  };
};

/**
 * While streaming: a finished segment about to be shipped must follow what the copies hold on its
 * timeline (start at or before the timeline's archived end). A segment of a timeline with nothing
 * archived yet follows its history file, not a predecessor.
 */
export const followsChain = (tipOfTimeline: string | null, segmentStartLsn: string) =>
  tipOfTimeline === null || lsnValue(segmentStartLsn) <= lsnValue(tipOfTimeline);
