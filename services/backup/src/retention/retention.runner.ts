import type { Pool } from 'pg';
import type { ContinuityPublisher } from '@continuity/contracts';
import type { ResolvedPolicy } from '../config/backup-config.loader.js';
import type { Catalogue } from '../catalogue/catalogue.js';
import type { LoggerLike } from '../backup-run/backup-runner.js';
import type { LocationRegistry } from '../backup-run/locations/location.registry.js';
import { selectRetention } from './retention.policy.js';

export interface RetentionDeps {
  pool: Pool;
  catalogue: Catalogue;
  locations: Pick<LocationRegistry, 'get'>;
  publisher: ContinuityPublisher;
  now?: () => Date;
  logger?: LoggerLike;
}

export interface RetentionReport {
  policy: string;
  resource: string;
  kept: number;
  expired: { backupId: string; reason: string; copiesDeleted: number; copiesFailed: number }[];
  skipped?: string;
}

/**
 * Applies a policy's retention: selects (pure), deletes every copy of each expired backup from
 * every location (manifest first), marks it expired and queues `BackupExpired` in one
 * transaction, then publishes. One process at a time per resource (advisory lock), so two
 * replicas never expire the same backup twice.
 */
export class RetentionRunner {
  constructor(private readonly deps: RetentionDeps) {}

  async apply(policy: ResolvedPolicy, publish: () => Promise<unknown>): Promise<RetentionReport> {
    const report: RetentionReport = { policy: policy.name, resource: policy.resourceName, kept: 0, expired: [] };
    if (!policy.retention) return { ...report, skipped: 'the policy keeps every backup (no retention)' };
    const lock = await this.deps.pool.connect();
    try {
      const { rows } = await lock.query<{ ok: boolean }>('SELECT pg_try_advisory_lock(hashtext($1)) AS ok', [`continuity.backup.retention.${policy.resourceName}`]);
      if (!rows[0]!.ok) return { ...report, skipped: 'retention of this resource is running elsewhere' };
      try {
        const now = (this.deps.now ?? (() => new Date()))();
        const created = await this.deps.catalogue.list({ resource: policy.resourceName, states: ['created'], limit: 100_000 });
        const decision = selectRetention(
          created.map((b) => ({ backupId: b.backupId, recoveryPoint: b.recoveryPoint, verdict: (b.verdict?.verdict ?? null) as 'passed' | 'failed' | 'unverifiable' | null })),
          policy.retention,
          now,
        );
        report.kept = decision.keep.length;
        for (const expiry of decision.expire) {
          const record = created.find((b) => b.backupId === expiry.backupId)!;
          const key = { resource: record.resource, backupId: record.backupId, extension: record.artifactExtension };
          const copies = [];
          for (const copy of record.copies) {
            let result: { deleted: boolean; error: string | null };
            try {
              result = await this.deps.locations.get(copy.location).remove(key);
            } catch (error) {
              result = { deleted: false, error: (error as Error).message };
            }
            copies.push({ location: copy.location, uri: copy.uri, ...result });
          }
          const event = this.deps.publisher.build('BackupExpired', {
            resource: record.resource,
            data: { backupId: record.backupId, recoveryPoint: record.recoveryPoint, policy: policy.name, reason: expiry.reason, copies },
          });
          await this.deps.catalogue.expired(record.backupId, { at: now.toISOString(), expiry: { reason: expiry.reason, copies } }, event);
          const failed = copies.filter((c) => !c.deleted);
          if (failed.length) this.deps.logger?.warn(`expired backup ${record.backupId}: could not delete ${failed.map((c) => `${c.location} (${c.error})`).join(', ')}`);
          report.expired.push({ backupId: record.backupId, reason: expiry.reason, copiesDeleted: copies.length - failed.length, copiesFailed: failed.length });
        }
      } finally {
        await lock.query('SELECT pg_advisory_unlock(hashtext($1))', [`continuity.backup.retention.${policy.resourceName}`]).catch(() => undefined);
      }
    } finally {
      lock.release();
    }
    if (report.expired.length) {
      await publish();
      this.deps.logger?.log(`retention of ${policy.resourceName} (${policy.name}): kept ${report.kept}, expired ${report.expired.length}`);
    }
    return report;
  }
}
