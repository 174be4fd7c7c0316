import type { AuditConfig } from '../config/audit.config.js';
import type { SloTargets } from './resource-state.projection.js';

/** The SLO targets configured for this deployment, as the projection and the report judge against. */
export const sloTargetsOf = (config: AuditConfig): SloTargets => ({
  rpoMs: config.AUDIT_RPO_TARGET_MS,
  rtoMs: config.AUDIT_RTO_TARGET_MS,
  availability: config.AUDIT_AVAILABILITY_TARGET,
});

/** What the risk register judges against (risks/risk-rules.ts), from the same configuration. */
export const riskPolicyOf = (config: AuditConfig) => ({
  targets: sloTargetsOf(config),
  scrubPeriodMs: config.AUDIT_SCRUB_PERIOD_MS,
  drillMaxAgeMs: config.AUDIT_DRILL_MAX_AGE_MS,
  standbyLagLimitBytes: config.AUDIT_STANDBY_LAG_LIMIT_BYTES,
});
