import type { ArchivedWal } from './pitr-plan.policy.js';

/**
 * WAL checked against the audit ledger (pure): the copies' manifests can be rewritten together
 * with the bytes they describe, and copies that all agree prove only that they were rewritten
 * alike. The `WalArchived` events in the ledger are the tamper-evident record of what was
 * archived: a file is kept only when the version its copies hold (plaintext SHA-256 and size) is
 * one the ledger recorded, and only the copies whose stored SHA-256 the ledger recorded for that
 * version. A file the ledger never recorded, or recorded otherwise, is refused: recovery stops
 * before it, and the restore says which and why.
 */

/** One version of a WAL file as a `WalArchived` event recorded it (a partial segment may have several). */
export interface LedgerWalVersion {
  name: string;
  partial: boolean;
  plaintextSha256: string;
  plaintextSizeBytes: number;
  copies: { location: string; sha256: string }[];
}

export interface LedgerCheck {
  kept: ArchivedWal[];
  refused: { name: string; reason: string }[];
  /** Copies of kept files whose stored bytes are not the ones the ledger recorded (left out of the plan). */
  droppedCopies: { name: string; location: string }[];
}

/** The plaintext hashes the ledger recorded per file name (to prefer, among copies that disagree, the recorded version). */
export const recordedVersions = (ledger: readonly LedgerWalVersion[]): Map<string, Set<string>> => {
  const byName = new Map<string, Set<string>>();
  for (const v of ledger) byName.set(v.name, (byName.get(v.name) ?? new Set()).add(v.plaintextSha256));
  return byName;
};

export const checkWalAgainstLedger = (records: readonly ArchivedWal[], ledger: readonly LedgerWalVersion[]): LedgerCheck => {
  const byName = new Map<string, LedgerWalVersion[]>();
  for (const v of ledger) byName.set(v.name, [...(byName.get(v.name) ?? []), v]);
  const kept: ArchivedWal[] = [];
  const refused: LedgerCheck['refused'] = [];
  const droppedCopies: LedgerCheck['droppedCopies'] = [];
  for (const record of records) {
    const versions = byName.get(record.name) ?? [];
    if (!versions.length) {
      refused.push({ name: record.name, reason: `no WalArchived event in the ledger records ${record.name}` });
      continue;
    }
    const matching = versions.filter((v) => v.plaintextSha256 === record.plaintextSha256 && v.plaintextSizeBytes === record.plaintextSizeBytes);
    if (!matching.length) {
      const recorded = [...new Set(versions.map((v) => `${v.plaintextSizeBytes} bytes with SHA-256 ${v.plaintextSha256}`))].join(' or ');
      refused.push({
        name: record.name,
        reason: `its copies (${record.copies.map((c) => c.location).join(', ')}) hold ${record.plaintextSizeBytes} bytes with SHA-256 ${record.plaintextSha256}, but the ledger recorded ${recorded}`,
      });
      continue;
    }
    const recordedCopies = new Set(matching.flatMap((v) => v.copies.map((c) => `${c.location}\n${c.sha256}`)));
    const copies = record.copies.filter((c) => recordedCopies.has(`${c.location}\n${c.sha256}`));
    for (const c of record.copies) if (!copies.includes(c)) droppedCopies.push({ name: record.name, location: c.location });
    if (!copies.length) {
      refused.push({ name: record.name, reason: `none of its copies (${record.copies.map((c) => c.location).join(', ')}) holds the stored bytes the ledger recorded` });
      continue;
    }
    kept.push({ ...record, copies });
  }
  return { kept, refused, droppedCopies };
};

/** A base backup as its `BackupCreated` event in the ledger recorded it: the stored artifact's SHA-256 and size. */
export interface LedgerBaseBackup {
  backupId: string;
  sha256: string;
  sizeBytes: number;
}

/**
 * Base backups checked against the ledger (pure), as WAL files are: the copies a restore would
 * hash-check come with the SHA-256 the catalogue (or, listed from the copies, their manifests)
 * gives them, and all of that can be rewritten alike. A base backup is kept only when the ledger
 * holds its `BackupCreated`, and only its copies listed with the stored SHA-256 and size that
 * event recorded (the restore then checks the bytes against them, so bytes = ledger). One with no
 * such copy, or no event, is refused: the restore starts from an older one, or stops saying why.
 */
export const checkBaseBackupsAgainstLedger = (
  candidates: readonly { backupId: string; copies: readonly { location: string; sha256: string; sizeBytes: number }[] }[],
  ledger: readonly LedgerBaseBackup[],
): { kept: Map<string, LedgerBaseBackup>; refused: { backupId: string; reason: string }[] } => {
  const recorded = new Map(ledger.map((b) => [b.backupId, b]));
  const kept = new Map<string, LedgerBaseBackup>();
  const refused: { backupId: string; reason: string }[] = [];
  for (const candidate of candidates) {
    const entry = recorded.get(candidate.backupId);
    if (!entry) refused.push({ backupId: candidate.backupId, reason: 'no BackupCreated event in the ledger records it' });
    else if (!candidate.copies.some((c) => c.sha256 === entry.sha256 && c.sizeBytes === entry.sizeBytes)) {
      const listed = [...new Set(candidate.copies.map((c) => `${c.sizeBytes} bytes with SHA-256 ${c.sha256}`))].join(' or ') || 'no copy';
      refused.push({ backupId: candidate.backupId, reason: `its copies are listed with ${listed}, but the ledger recorded ${entry.sizeBytes} bytes with SHA-256 ${entry.sha256}` });
    } else kept.set(candidate.backupId, entry);
  }
  return { kept, refused };
};
