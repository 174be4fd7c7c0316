import type { AuditConfig } from '../config/audit.config.js';
import type { SloTargets } from './resource-state.projection.js';

/** The SLO targets configured for this deployment, as the projection and the report judge against. */
export const sloTargetsOf = (config: AuditConfig): SloTargets => ({
  rpoMs: config.AUDIT_RPO_TARGET_MS,
  rtoMs: config.AUDIT_RTO_TARGET_MS,
  availability: config.AUDIT_AVAILABILITY_TARGET,
});
