import { lsnValue, parseWalObjectName } from '@continuity/artifacts';
import type { WalCopy } from '@continuity/contracts';

/**
 * Which shipped versions of partial WAL segments are superseded long enough to be removed (pure).
 * A version is superseded once something newer of its segment is archived — a longer version, or
 * the finished segment — which the inventory records only after every copy of it is committed. It
 * is removed `graceMs` after that, not at once: a restore that planned on it reads it at the end
 * of its recovery. The newest version of a segment not yet finished is never removed; nor is a
 * partial segment an older archive stored under the segment's own name (the finished one replaces
 * it there). WAL retention removes what is left of a segment with the segment.
 */
export interface ShippedVersion {
  /** The name it is stored under: `<segment>.partial.<bytes>`, or the segment's own name. */
  name: string;
  partial: boolean;
  endLsn: string;
  archivedAt: string;
  encrypted: boolean;
  copies: WalCopy[];
}

export interface SupersededVersion {
  version: ShippedVersion;
  /** The segment it is a version of. */
  segment: string;
  /** What superseded it first, and when that was archived. */
  by: string;
  supersededAt: string;
}

export const selectSupersededPartials = (versions: readonly ShippedVersion[], options: { now: Date; graceMs: number }): SupersededVersion[] => {
  const bySegment = new Map<string, { version: ShippedVersion; bytes: number | null }[]>();
  for (const version of versions) {
    const parsed = parseWalObjectName(version.name);
    if (!parsed) continue;
    bySegment.set(parsed.file, [...(bySegment.get(parsed.file) ?? []), { version, bytes: parsed.partialBytes }]);
  }
  const out: SupersededVersion[] = [];
  for (const [segment, all] of bySegment) {
    for (const { version, bytes } of all) {
      if (bytes === null) continue; // the finished segment, or a partial one stored before versions
      const newer = all
        .filter((o) => (!o.version.partial && o.bytes === null) || (o.bytes !== null && lsnValue(o.version.endLsn) > lsnValue(version.endLsn)))
        .sort((a, b) => Date.parse(a.version.archivedAt) - Date.parse(b.version.archivedAt))[0];
      if (!newer) continue;
      if (options.now.getTime() - Date.parse(newer.version.archivedAt) < options.graceMs) continue;
      out.push({ version, segment, by: newer.version.name, supersededAt: newer.version.archivedAt });
    }
  }
  return out.sort((a, b) => (a.version.name < b.version.name ? -1 : 1));
};
