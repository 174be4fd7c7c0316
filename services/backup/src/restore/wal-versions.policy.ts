import { lsnValue } from '@continuity/artifacts';
import type { ArchivedWal } from './pitr-plan.policy.js';

/**
 * Which version of each WAL file a restore plans on (pure). The copies hold one object per
 * finished segment and history file, and one per shipment of a partial segment
 * (`<segment>.partial.<bytes>`, [decision 0045](../../../../docs/decisions/0045-partial-wal-segments-shipped-as-versions.md)).
 * Per file, among the objects that
 *
 * - most of the copy locations holding any version of the segment hold (the archiver commits an
 *   object to every copy before it records it, so one only one copy of several holds was put there
 *   by someone else, or is still being shipped) — the finished segment and a partial stored under
 *   the plain name too — and
 *
 * the finished segment (the ledger check accepts or refuses it), else the newest partial version
 * that, with the audit ledger, a `WalArchived` event recorded (when one is: otherwise the ledger
 * check refuses the newest and says so).
 *
 * A partial segment stored under the segment's own name (an archive from before versions) is a
 * version like the others. The plan then names the chosen version's object, so wal-fetch reads
 * exactly it, hash-checked as every file.
 */
export interface WalVersionChoice {
  files: ArchivedWal[];
  /** Newer versions not planned on, and why. */
  passedOver: { name: string; object: string; reason: string }[];
}

export const chooseWalVersions = (
  records: readonly ArchivedWal[],
  options: {
    /** Per WAL file name: how many copy locations hold any version of it. */
    locationsHolding: ReadonlyMap<string, number>;
    /** Plaintext SHA-256 the audit ledger recorded per WAL file name. */
    recorded?: ReadonlyMap<string, ReadonlySet<string>>;
  },
): WalVersionChoice => {
  const byName = new Map<string, ArchivedWal[]>();
  for (const r of records) byName.set(r.name, [...(byName.get(r.name) ?? []), r]);
  const files: ArchivedWal[] = [];
  const passedOver: WalVersionChoice['passedOver'] = [];
  const newestFirst = (a: ArchivedWal, b: ArchivedWal) => Number(lsnValue(b.endLsn) - lsnValue(a.endLsn)) || b.copies.length - a.copies.length;
  for (const [name, versions] of byName) {
    const holding = options.locationsHolding.get(name) ?? 0;
    // Every record, the finished segment and a partial under the plain name included: a copy of
    // one location out of several is not what the archiver committed everywhere.
    const held = versions.filter((v) => {
      if (v.copies.length * 2 > holding) return true;
      passedOver.push({ name, object: v.object ?? name, reason: `only ${v.copies.map((c) => c.location).join(', ')} of the ${holding} copy locations holding ${name} hold it` });
      return false;
    });
    // The finished segment, when most copies hold it: the ledger check then accepts or refuses it
    // (and recovery stops before a refused one, saying so).
    const finished = held.find((v) => !v.partial && v.object === undefined);
    if (finished) {
      files.push(finished);
      continue;
    }
    const recorded = options.recorded;
    const inLedger = recorded ? held.filter((v) => recorded.get(name)?.has(v.plaintextSha256)) : held;
    const pool = inLedger.length ? inLedger : held;
    const chosen = [...pool].sort(newestFirst)[0];
    if (!chosen) continue;
    for (const v of held) {
      if (v !== chosen && lsnValue(v.endLsn) > lsnValue(chosen.endLsn)) passedOver.push({ name, object: v.object ?? name, reason: 'no WalArchived event in the ledger records it' });
    }
    files.push(chosen);
  }
  return { files, passedOver };
};
