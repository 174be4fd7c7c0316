/** One probe of one member, as the adapter saw it: what the decider folds (ProbeObserved). */
export interface Observation {
  readonly member: string;
  /** Start of the probe: a Date or epoch milliseconds. */
  readonly at: Date | number;
  readonly reachable: boolean;
  readonly error?: string;
  /** `pg_is_in_recovery()`. */
  readonly inRecovery?: boolean;
  /** Primary: `pg_current_wal_lsn()`. */
  readonly currentLsn?: string;
  /** Standby: `pg_last_wal_receive_lsn()`. */
  readonly receiveLsn?: string;
  /** Standby: `pg_last_wal_replay_lsn()`. */
  readonly replayLsn?: string;
  /** `default_transaction_read_only = on` (e.g. already fenced): new sessions do not write by default. */
  readonly readOnly?: boolean;
}
