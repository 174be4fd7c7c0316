import { lsnValue, WAL_SEGMENT_BYTES } from '@continuity/artifacts';

/** What the chain check needs of an archived WAL file (as its WalArchived listed it). */
export interface ChainFile {
  name: string;
  kind: 'segment' | 'history';
  timeline: number;
  startLsn: string;
  endLsn: string;
  partial: boolean;
}

export interface ChainGap {
  timeline: number;
  fromLsn: string;
  toLsn: string;
  detail: string;
}

export interface TimelineSpan {
  timeline: number;
  startLsn: string;
  endLsn: string;
  segments: number;
}

export interface ChainState {
  timelines: TimelineSpan[];
  gaps: ChainGap[];
}

export const lsnText = (value: bigint) => `${(value >> 32n).toString(16).toUpperCase()}/${(value & 0xffffffffn).toString(16).toUpperCase()}`;

const hex8 = (n: bigint | number) => n.toString(16).toUpperCase().padStart(8, '0');

/** The name of the segment of `timeline` holding `lsn`. */
export const segmentNameAt = (timeline: number, lsn: bigint, segmentBytes = WAL_SEGMENT_BYTES) => {
  const segno = lsn / BigInt(segmentBytes);
  const perLog = 0x1_0000_0000n / BigInt(segmentBytes);
  return `${hex8(timeline)}${hex8(segno / perLog)}${hex8(segno % perLog)}`;
};

const missingSegments = (timeline: number, from: bigint, to: bigint) => {
  const first = segmentNameAt(timeline, from);
  const last = segmentNameAt(timeline, to - 1n);
  return first === last ? `segment ${first}` : `segments ${first} to ${last}`;
};

/**
 * The chain of a resource's archived WAL, per timeline (pure). Within a timeline the archived
 * files, ordered by position, must leave no hole: each one starts where the one before ended (a
 * finished segment's start is the previous one's end). A partial segment counts up to its end and
 * is superseded by the finished segment of the same name; a partial one followed by later
 * segments leaves a hole from its end. Every timeline after 1 needs its history file, and its
 * first archived segment must start at or before the position the history file says it began.
 * Gaps come out ordered by timeline and position.
 */
export const walChain = (files: readonly ChainFile[]): ChainState => {
  const segments = new Map<number, Map<string, ChainFile>>();
  const histories = new Map<number, ChainFile>();
  for (const file of files) {
    if (file.kind === 'history') {
      histories.set(file.timeline, file);
      continue;
    }
    const byName = segments.get(file.timeline) ?? new Map<string, ChainFile>();
    segments.set(file.timeline, byName);
    const known = byName.get(file.name);
    // The finished segment wins over any partial shipment of it; of two partial ones, the longer.
    const better = !known || (known.partial && (!file.partial || lsnValue(file.endLsn) > lsnValue(known.endLsn)));
    if (better) byName.set(file.name, file);
  }
  const timelines: TimelineSpan[] = [];
  const gaps: ChainGap[] = [];
  for (const timeline of [...new Set([...segments.keys(), ...histories.keys()])].sort((a, b) => a - b)) {
    const ordered = [...(segments.get(timeline)?.values() ?? [])].sort((a, b) => (lsnValue(a.startLsn) < lsnValue(b.startLsn) ? -1 : 1));
    const history = histories.get(timeline);
    const first = ordered[0];
    if (timeline > 1 && !history) {
      const at = first ? first.startLsn : '0/0';
      gaps.push({ timeline, fromLsn: at, toLsn: at, detail: `timeline ${timeline} has no archived history file (${hex8(timeline)}.history): a restore cannot follow it` });
    }
    if (!first) continue;
    if (history && lsnValue(history.startLsn) > 0n && lsnValue(first.startLsn) > lsnValue(history.startLsn)) {
      gaps.push({
        timeline,
        fromLsn: history.startLsn,
        toLsn: first.startLsn,
        detail: `timeline ${timeline} begins at ${history.startLsn} but its first archived segment starts at ${first.startLsn}: ${missingSegments(timeline, lsnValue(history.startLsn), lsnValue(first.startLsn))} missing`,
      });
    }
    let end = lsnValue(first.startLsn);
    for (const file of ordered) {
      const start = lsnValue(file.startLsn);
      if (start > end) {
        gaps.push({ timeline, fromLsn: lsnText(end), toLsn: file.startLsn, detail: `no archived WAL from ${lsnText(end)} to ${file.startLsn} on timeline ${timeline}: ${missingSegments(timeline, end, start)} missing` });
      }
      const fileEnd = lsnValue(file.endLsn);
      if (fileEnd > end) end = fileEnd;
    }
    timelines.push({ timeline, startLsn: first.startLsn, endLsn: lsnText(end), segments: ordered.length });
  }
  return { timelines, gaps };
};

/** Identity of a gap (the same hole seen again is the same gap). */
export const gapKey = (gap: Pick<ChainGap, 'timeline' | 'fromLsn' | 'toLsn'>) => `${gap.timeline}:${lsnText(lsnValue(gap.fromLsn))}:${lsnText(lsnValue(gap.toLsn))}`;
