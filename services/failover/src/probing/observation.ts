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
  /** Primary: `synchronous_standby_names` as in force (empty: commits wait for no standby). */
  readonly synchronousStandbyNames?: string;
  /** Primary: its `pg_stat_replication`, one row per connected standby (by application_name). */
  readonly replication?: readonly ReplicationRow[];
}

/** One row of a primary's `pg_stat_replication`. */
export interface ReplicationRow {
  /** `application_name`: the member name, for standbys this service configures. */
  readonly name: string;
  /** `state`: 'streaming' once caught up to the live WAL ('startup', 'catchup', 'backup', 'stopping' before). */
  readonly state: string;
  /** `sync_state`: 'sync' for the standby whose flush a commit waits for; 'potential', 'async', 'quorum' otherwise. */
  readonly syncState: string;
}
