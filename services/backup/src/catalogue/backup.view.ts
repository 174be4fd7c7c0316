import type { RunProgress } from '../backup-run/backup-runner.js';
import type { BackupRecord } from './catalogue.js';

/** A backup as the HTTP API shows it: the catalogue's record, with the live progress of a run of this process. */
export const backupView = (record: BackupRecord, live: Pick<RunProgress, 'bytesDone' | 'bytesExpected'> | null) => {
  const bytesDone = live?.bytesDone ?? record.bytesDone;
  const bytesExpected = live?.bytesExpected ?? record.bytesExpected;
  return {
    backupId: record.backupId,
    resource: record.resource,
    policy: record.policy,
    kind: record.resourceKind,
    method: record.method,
    trigger: record.trigger,
    state: record.state,
    startedAt: record.startedAt,
    finishedAt: record.finishedAt,
    recoveryPoint: record.recoveryPoint,
    progress: {
      bytesDone,
      bytesExpected,
      // An estimate (a dump is compressed, a tar has headers): capped below 100 until the run ends.
      percent: record.state !== 'running' ? 100 : bytesExpected ? Math.min(99, Math.floor((100 * bytesDone) / bytesExpected)) : null,
    },
    sizeBytes: record.sizeBytes,
    sha256: record.sha256,
    plaintext: record.plaintext,
    encryption: record.encryption,
    threeTwoOne: record.threeTwoOne,
    copies: record.copies.length ? record.copies : record.plannedCopies,
    verification: record.verdict,
    error: record.error,
    expiredAt: record.expiredAt,
  };
};
