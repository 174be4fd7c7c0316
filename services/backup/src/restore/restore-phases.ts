/** Where a point-in-time restore's data-recovery time went: pure arithmetic over the measured phases. */

export interface RecoveryPhases {
  /** Fetch, SHA-256, decompression and extraction of the base backup into the staging folder. */
  stageMs: number;
  /** `pg_verifybackup` (with the flush to disk) and the rename into place. */
  verifyMs: number;
  /** `pg_ctl start` until the server accepts connections (crash recovery to the backup's consistent point included). */
  startMs: number;
  /** From accepting connections to promoted: replay of the archived WAL up to the target. */
  recoveryMs: number;
  otherMs: number;
}

/** The phases of a point-in-time restore; whatever they do not cover is `otherMs`. */
export const recoveryPhases = (durationMs: number, base: { stageMs: number; verifyMs: number } | null, startMs: number, recoveryMs: number): RecoveryPhases => {
  const stageMs = base?.stageMs ?? 0;
  const verifyMs = base?.verifyMs ?? 0;
  return { stageMs, verifyMs, startMs, recoveryMs, otherMs: Math.max(0, durationMs - stageMs - verifyMs - startMs - recoveryMs) };
};
