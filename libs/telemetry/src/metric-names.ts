/**
 * Every metric a Continuity service exports at `GET /metrics`, by the name Prometheus sees (a
 * counter's `_total` included; a histogram adds `_bucket`, `_sum`, `_count`). One list: services
 * create their instruments from it, and the alert rules and the Grafana dashboard are tested
 * against it (deploy/prometheus/alerts.yml, deploy/grafana/continuity.json).
 *
 * Labels are bounded: `resource`, `location` and `member` come from configuration, `consumer` from
 * the services' own consumers; none carries an id.
 */
export interface MetricSpec {
  /** The name in Prometheus's exposition. */
  name: string;
  /** The name of the OpenTelemetry instrument (without the `_total` Prometheus adds to counters). */
  instrument: string;
  type: 'gauge' | 'counter' | 'histogram';
  service: 'backup' | 'verifier' | 'failover' | 'audit' | 'every service';
  labels: readonly string[];
  help: string;
}

const gauge = (name: string, service: MetricSpec['service'], labels: readonly string[], help: string): MetricSpec => ({ name, instrument: name, type: 'gauge', service, labels, help });

export const METRICS = {
  // audit: from the resource-state projections and the ledger, computed at scrape time
  recoveryPointAge: gauge('continuity_recovery_point_age_seconds', 'audit', ['resource'], 'age of the newest verified recovery point'),
  rpoExposure: gauge('continuity_rpo_exposure_ratio', 'audit', ['resource'], 'age of the newest verified recovery point over the RPO target (above 1: the RPO is breached)'),
  rpoTarget: gauge('continuity_rpo_target_seconds', 'audit', ['resource'], 'the RPO target judged against'),
  lastBackupAge: gauge('continuity_last_backup_age_seconds', 'audit', ['resource'], 'age of the newest backup taken, verified or not'),
  restoreTestDuration: gauge('continuity_restore_test_duration_seconds', 'audit', ['resource'], 'restore time measured by the restore test of the newest verified backup'),
  backups: gauge('continuity_backups', 'audit', ['resource', 'outcome'], 'backups recorded in the ledger, by outcome (created, failed)'),
  verdicts: gauge('continuity_verdicts', 'audit', ['resource', 'verdict'], 'verification verdicts recorded in the ledger (passed, failed)'),
  copiesVerified: gauge('continuity_copies_verified', 'audit', ['resource'], 'copies of the newest verified backup whose hash matched'),
  threeTwoOne: gauge('continuity_three_two_one_compliant', 'audit', ['resource'], '1 when the newest verified backup has 3 copies on 2 media with 1 off site'),
  failovers: gauge('continuity_failovers', 'audit', ['resource'], 'failovers completed'),
  downtime: gauge('continuity_downtime_seconds', 'audit', ['resource'], 'total time without a routable primary'),
  ledgerEntries: gauge('continuity_ledger_entries', 'audit', [], 'entries in the audit ledger'),
  ledgerSignedSize: gauge('continuity_ledger_signed_tree_size', 'audit', [], 'entries covered by the newest signed tree head'),
  ledgerSignedHeadAge: gauge('continuity_ledger_signed_head_age_seconds', 'audit', [], 'age of the newest signed tree head'),
  // verifier
  copyChecks: { name: 'continuity_copy_checks_total', instrument: 'continuity_copy_checks', type: 'counter', service: 'verifier', labels: ['resource', 'location', 'outcome'], help: 'copies read back and checked, by outcome (passed, failed)' },
  scrubCoverage: gauge('continuity_scrub_coverage_ratio', 'verifier', ['resource'], 'share of retained backups verified within the scrub period'),
  scrubOverdue: gauge('continuity_scrub_overdue_backups', 'verifier', ['resource'], 'retained backups not verified within the scrub period'),
  // failover
  failoverRto: { name: 'continuity_failover_rto', instrument: 'continuity_failover_rto', type: 'histogram', service: 'failover', labels: ['resource', 'planned'], help: 'failover RTO in ms: first failed probe (or request) to writable and routed' },
  standbyLag: gauge('continuity_standby_lag_bytes', 'failover', ['resource', 'member'], 'WAL bytes a standby has not replayed yet, behind its primary'),
  // every service
  deadLetters: gauge('continuity_dead_letters', 'every service', ['consumer'], 'dead letters held in the dead-letter stream, by consumer'),
} as const satisfies Record<string, MetricSpec>;

/** The names a PromQL expression may use for `spec` (a histogram's series). */
export const seriesNames = (spec: MetricSpec): string[] =>
  spec.type === 'histogram' ? [`${spec.name}_bucket`, `${spec.name}_sum`, `${spec.name}_count`] : [spec.name];
