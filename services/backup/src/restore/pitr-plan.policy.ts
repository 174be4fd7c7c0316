import { lsnValue, WAL_SEGMENT_BYTES } from '@continuity/artifacts';
import type { RecoveryTarget } from './recovery-target.js';
import { RestoreError } from './restore.errors.js';

/**
 * Which base backup and which archived WAL a point-in-time restore needs (pure: the catalogue's
 * and the archive's records and the target in, a choice out).
 */

/** A base backup that can start a point-in-time restore. */
export interface BaseBackupCandidate {
  backupId: string;
  /** When pg_basebackup had finished: every WAL position it needs is before this moment. */
  finishedAt: string;
  startLsn: string;
  endLsn: string;
  timeline: number;
}

/** One archived WAL file as the archive's records agree on it. */
export interface ArchivedWal {
  /** The WAL file name PostgreSQL asks for. */
  name: string;
  /** A partial segment's version: the object it is stored under (`<name>.partial.<bytes>`); absent: `name`. */
  object?: string;
  kind: 'segment' | 'history';
  timeline: number;
  startLsn: string;
  endLsn: string;
  partial: boolean;
  plaintextSha256: string;
  plaintextSizeBytes: number;
  /** When it was archived (the newest moment its content can hold). */
  archivedAt: string;
  copies: { location: string; sha256: string; sizeBytes: number }[];
}

const invalid = (code: string, message: string) => new RestoreError(code, message, { status: 400 });

/**
 * The newest base backup that ends before the target: for a time, one that had finished by then;
 * for an LSN, one whose end position is at or before it (on its timeline). A named restore point
 * has no position we know: the oldest base backup is chosen, whose WAL reaches every point
 * created after it (unless `restorePointLsn` is known, then as an LSN). `--latest`: the newest.
 */
export const chooseBaseBackup = (candidates: readonly BaseBackupCandidate[], target: RecoveryTarget, options: { restorePointLsn?: string } = {}): BaseBackupCandidate => {
  if (!candidates.length) throw invalid('RESTORE.NO_BASE_BACKUP', 'no base backup of the resource is in the catalogue (or in its copies, when listed from them): a point-in-time restore starts from one (take one with method: basebackup)');
  const newestFirst = [...candidates].sort((a, b) => Date.parse(b.finishedAt) - Date.parse(a.finishedAt) || Number(lsnValue(b.endLsn) - lsnValue(a.endLsn)));
  const oldest = newestFirst[newestFirst.length - 1]!;
  const byLsn = (lsn: string) => {
    const chosen = newestFirst.find((c) => lsnValue(c.endLsn) <= lsnValue(lsn));
    if (!chosen) throw invalid('RESTORE.TARGET_BEFORE_FIRST_BACKUP', `LSN ${lsn} is before the end of the oldest base backup (${oldest.backupId}, consistent from ${oldest.endLsn}): it cannot be restored`);
    return chosen;
  };
  switch (target.kind) {
    case 'latest':
      return newestFirst[0]!;
    case 'time': {
      const chosen = newestFirst.find((c) => Date.parse(c.finishedAt) <= target.at.getTime());
      if (!chosen) {
        throw invalid('RESTORE.TARGET_BEFORE_FIRST_BACKUP', `${target.at.toISOString()} is before the oldest base backup ended (${oldest.backupId}, ${oldest.finishedAt}): it cannot be restored`);
      }
      return chosen;
    }
    case 'lsn':
      return byLsn(target.lsn);
    case 'name':
      return options.restorePointLsn ? byLsn(options.restorePointLsn) : oldest;
    default: {
      const unreachable: never = target;
      throw new Error(`unknown target ${JSON.stringify(unreachable)}`);
    }
  }
};

const hexLsn = (value: bigint) => `${(value >> 32n).toString(16).toUpperCase()}/${(value & 0xffffffffn).toString(16).toUpperCase()}`;

export interface WalChain {
  /** The files to put in the plan, in the order they are needed (history files first). */
  files: ArchivedWal[];
  /** Where the contiguous archive after the base backup ends, on the newest timeline it follows. */
  endLsn: string;
  /** The first position the archive lacks before its newest segment, when there is a hole. */
  gapAt: string | null;
  /** The newest moment a file of the chain was archived. */
  newestArchivedAt: string | null;
  /** The newest segment of the contiguous chain: a restore to the latest moment must have replayed it. */
  lastSegment: string | null;
  /** The timelines the chain follows, from the base backup's. */
  timelines: number[];
}

/**
 * The WAL files from the segment holding the base backup's start to the target, following the
 * timeline switches the archive's history files record (as recovery_target_timeline 'latest'
 * does): on each timeline, contiguous segments up to the segment holding the next timeline's
 * switch point (that segment, and the rest, come from the new timeline, whose file holds the old
 * timeline's WAL before the switch). A hole ends the chain (recovery cannot pass it, and the
 * restore says where). Every history file is in the plan; for targets other than an LSN so are the
 * segments of later timelines off the path (PostgreSQL asks only for what it needs). An LSN target
 * needs nothing past its segment. Throws when the target lies past what is archived.
 */
export const walChainFor = (records: readonly ArchivedWal[], backup: BaseBackupCandidate, target: RecoveryTarget, segmentBytes = WAL_SEGMENT_BYTES): WalChain => {
  const size = BigInt(segmentBytes);
  const segmentStart = (lsn: bigint) => (lsn / size) * size;
  const limit = target.kind === 'lsn' ? lsnValue(target.lsn) : null;
  const history = records.filter((r) => r.kind === 'history').sort((a, b) => a.timeline - b.timeline);
  const path: ArchivedWal[] = [];
  const timelines: number[] = [];
  let timeline = backup.timeline;
  let expected = segmentStart(lsnValue(backup.startLsn));
  let gapAt: string | null = null;
  for (;;) {
    timelines.push(timeline);
    // The next timeline branching off this one at or after where the chain is (its switch point's segment).
    const next = history.find((h) => h.timeline > timeline && segmentStart(lsnValue(h.startLsn)) >= expected);
    const switchSegment = next ? segmentStart(lsnValue(next.startLsn)) : null;
    const own = records
      .filter((r) => r.kind === 'segment' && r.timeline === timeline && lsnValue(r.startLsn) >= expected && (switchSegment === null || lsnValue(r.startLsn) < switchSegment))
      .sort((a, b) => Number(lsnValue(a.startLsn) - lsnValue(b.startLsn)));
    let ended = false;
    for (const segment of own) {
      if (limit !== null && lsnValue(segment.startLsn) > limit) {
        ended = true;
        break;
      }
      if (lsnValue(segment.startLsn) !== expected) break;
      path.push(segment);
      expected = lsnValue(segment.endLsn);
      if (segment.partial) break; // a partial segment is the newest WAL there is on its timeline
    }
    if (ended || !next || (limit !== null && limit < switchSegment!)) break;
    if (expected !== switchSegment) {
      gapAt = hexLsn(expected);
      break;
    }
    timeline = next.timeline;
  }
  // A hole before the newest segment of the timeline the chain ended on.
  if (!gapAt) {
    const beyond = records.some((r) => r.kind === 'segment' && r.timeline === timeline && lsnValue(r.startLsn) > expected);
    const last = path[path.length - 1];
    if (beyond && !last?.partial && (limit === null || limit >= expected)) gapAt = hexLsn(expected);
  }
  const endLsn = hexLsn(expected);
  if (limit !== null && limit > expected) {
    throw invalid(
      'RESTORE.TARGET_NOT_ARCHIVED',
      gapAt ? `LSN ${target.kind === 'lsn' ? target.lsn : ''} is past a hole in the WAL archive at ${gapAt}: it cannot be reached` : `LSN ${hexLsn(limit)} is past the newest archived WAL (${endLsn})`,
    );
  }
  const onPath = new Set(path.map((f) => f.name));
  const offPath = target.kind === 'lsn' ? [] : records.filter((r) => r.kind === 'segment' && r.timeline > backup.timeline && !onPath.has(r.name));
  const chain = [...history, ...path, ...offPath];
  const newestArchivedAt = chain.reduce<string | null>((newest, r) => (!newest || Date.parse(r.archivedAt) > Date.parse(newest) ? r.archivedAt : newest), null);
  if (target.kind === 'time' && (!newestArchivedAt || Date.parse(newestArchivedAt) < target.at.getTime())) {
    throw invalid(
      'RESTORE.TARGET_NOT_ARCHIVED',
      `${target.at.toISOString()} is after the newest archived WAL (${newestArchivedAt ?? 'none after the base backup'}): it cannot be reached yet; use --latest for the newest moment archived`,
    );
  }
  return { files: chain, endLsn, gapAt, newestArchivedAt, lastSegment: path[path.length - 1]?.name ?? null, timelines };
};

/** A value quoted for postgresql.conf. */
export const quoteSetting = (value: string) => `'${value.replace(/'/g, "''")}'`;

/**
 * The recovery settings appended to the restored `postgresql.auto.conf`: the restore_command,
 * the target (none for the latest), promote when it is reached, and the restored server's port.
 */
export const recoverySettings = (options: { restoreCommand: string; target: RecoveryTarget; port: number | null }): string => {
  const lines = ['', '# continuity point-in-time restore', `restore_command = ${quoteSetting(options.restoreCommand)}`];
  const t = options.target;
  // PostgreSQL's own timestamptz text (its GUC check is stricter than the SQL input with ISO 'T…Z').
  if (t.kind === 'time') lines.push(`recovery_target_time = ${quoteSetting(t.at.toISOString().replace('T', ' ').replace('Z', '+00'))}`);
  if (t.kind === 'lsn') lines.push(`recovery_target_lsn = ${quoteSetting(t.lsn)}`);
  if (t.kind === 'name') lines.push(`recovery_target_name = ${quoteSetting(t.name)}`);
  lines.push("recovery_target_timeline = 'latest'", "recovery_target_action = 'promote'");
  // The source's own archiving must not run in the copy (it would push into the source's archive).
  lines.push("archive_mode = 'off'");
  if (options.port !== null) lines.push(`port = ${options.port}`);
  return `${lines.join('\n')}\n`;
};

/**
 * A shell word for restore_command (run by PostgreSQL through /bin/sh). A `%` is doubled: PostgreSQL
 * reads `%f`, `%p`, `%r` in the command as its placeholders and `%%` as a `%` (16+ refuses others).
 */
export const shellWord = (word: string) => `'${word.replace(/'/g, `'\\''`).replace(/%/g, '%%')}'`;
