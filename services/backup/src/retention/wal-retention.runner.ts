import type { Pool } from 'pg';
import { walArtifactKey, walFileOfObject } from '@continuity/artifacts';
import type { ContinuityPublisher } from '@continuity/contracts';
import { redactSecrets } from '@continuity/runtime/standalone';
import type { LoggerLike } from '../backup-run/backup-runner.js';
import type { LocationRegistry } from '../backup-run/locations/location.registry.js';
import type { Catalogue } from '../catalogue/catalogue.js';
import type { ResolvedPolicy } from '../config/backup-config.loader.js';
import type { WalInventory } from '../wal/wal-inventory.js';
import { RetainedBaseBackup, selectWalExpiry } from './wal-retention.policy.js';

const LSN = /^[0-9A-F]{1,8}\/[0-9A-F]{1,8}$/i;

export interface WalRetentionDeps {
  pool: Pool;
  catalogue: Pick<Catalogue, 'list' | 'queue'>;
  locations: Pick<LocationRegistry, 'get'> & { has?: (name: string) => boolean };
  publisher: ContinuityPublisher;
  inventory: WalInventory;
  now?: () => Date;
  logger?: LoggerLike;
}

export interface WalRetentionReport {
  policy: string;
  resource: string;
  expired: string[];
  failed: string[];
  skipped?: string;
}

/**
 * WAL retention of a policy with a WAL archive, run after backup retention: reads where each
 * retained base backup starts (from its manifest, in any copy), selects the segments none of them
 * needs (pure, `selectWalExpiry`), deletes each from every copy location that holds it, then
 * queues one `WalExpired` and marks the files expired in the inventory. A file whose copy could
 * not be deleted stays live and is tried again by the next run. One process at a time per
 * resource (advisory lock).
 */
export class WalRetentionRunner {
  constructor(private readonly deps: WalRetentionDeps) {}

  async apply(policy: ResolvedPolicy, publish: () => Promise<unknown>): Promise<WalRetentionReport> {
    const report: WalRetentionReport = { policy: policy.name, resource: policy.resourceName, expired: [], failed: [] };
    if (!policy.wal) return { ...report, skipped: 'the policy archives no WAL' };
    const lockKey = `continuity.backup.wal-retention.${policy.resourceName}`;
    const lock = await this.deps.pool.connect();
    try {
      const { rows } = await lock.query<{ ok: boolean }>('SELECT pg_try_advisory_lock(hashtext($1)) AS ok', [lockKey]);
      if (!rows[0]!.ok) return { ...report, skipped: 'WAL retention of this resource is running elsewhere' };
      try {
        return await this.applyLocked(policy, report, publish);
      } finally {
        await lock.query('SELECT pg_advisory_unlock(hashtext($1))', [lockKey]).catch(() => undefined);
      }
    } finally {
      lock.release();
    }
  }

  private async applyLocked(policy: ResolvedPolicy, report: WalRetentionReport, publish: () => Promise<unknown>): Promise<WalRetentionReport> {
    const retained = await this.retainedBaseBackups(policy);
    if (typeof retained === 'string') return { ...report, skipped: retained };
    const archived = await this.deps.inventory.live(policy.resourceName);
    const decision = selectWalExpiry(retained, archived);
    if ('skipped' in decision) return { ...report, skipped: decision.skipped };
    if (!decision.expire.length) return report;
    const byName = new Map(archived.map((f) => [f.name, f]));
    const perLocation = new Map<string, { deleted: number; failed: number; error: string | null }>();
    const tally = (location: string, ok: boolean, error: string | null) => {
      const t = perLocation.get(location) ?? { deleted: 0, failed: 0, error: null };
      if (ok) t.deleted++;
      else {
        t.failed++;
        t.error ??= error;
      }
      perLocation.set(location, t);
    };
    for (const wal of decision.expire) {
      const file = byName.get(wal.name)!;
      let allDeleted = true;
      for (const copy of file.copies) {
        let result: { deleted: boolean; error: string | null };
        try {
          result = await this.deps.locations.get(copy.location).remove(walArtifactKey(policy.resourceName, file.name, file.encrypted));
        } catch (error) {
          result = { deleted: false, error: (error as Error).message };
        }
        tally(copy.location, result.deleted, result.error === null ? null : redactSecrets(result.error).slice(0, 4000));
        allDeleted &&= result.deleted;
      }
      (allDeleted ? report.expired : report.failed).push(file.name);
    }
    if (!report.expired.length) return report;
    const now = (this.deps.now ?? (() => new Date()))().toISOString();
    const expired = decision.expire.filter((w) => report.expired.includes(w.name));
    // The event names segments: a partial segment's versions expire with it and count as it.
    const segments = [...new Set(expired.map((w) => walFileOfObject(w.name)))].sort();
    const event = this.deps.publisher.build('WalExpired', {
      resource: policy.resourceName,
      data: {
        policy: policy.name,
        reason: decision.reason,
        keptFrom: decision.keptFrom,
        earliestRecoverable: decision.earliestRecoverable,
        segments: { count: segments.length, first: segments[0]!, last: segments[segments.length - 1]!, timelines: [...new Set(expired.map((w) => w.timeline))].sort((a, b) => a - b) },
        copies: [...perLocation].map(([location, t]) => ({ location, ...t })),
      },
    });
    await this.deps.catalogue.queue(event);
    await this.deps.inventory.markExpired(policy.resourceName, report.expired, now);
    await publish();
    if (report.failed.length) this.deps.logger?.warn(`WAL retention of ${policy.resourceName}: ${report.failed.length} segment(s) could not be removed from every copy (tried again next time)`);
    this.deps.logger?.log(`WAL retention of ${policy.resourceName}: ${segments.length} segment(s) expired (${segments[0]}..${segments[segments.length - 1]}); WAL kept from ${decision.keptFrom.startLsn}`);
    return report;
  }

  /** Every retained base backup with where it starts; a string says why nothing can be decided. */
  private async retainedBaseBackups(policy: ResolvedPolicy): Promise<RetainedBaseBackup[] | string> {
    const created = await this.deps.catalogue.list({ resource: policy.resourceName, states: ['created'], limit: 100_000 });
    const out: RetainedBaseBackup[] = [];
    for (const record of created.filter((b) => b.method === 'basebackup')) {
      // Every readable copy's manifest must say the same start: one altered manifest (a later start)
      // must not make retention delete WAL the backup needs.
      const seen = new Map<string, { startLsn: string; timeline: number }>();
      for (const copy of record.copies) {
        const bytes = await this.deps.locations
          .get(copy.location)
          .readManifest({ resource: record.resource, backupId: record.backupId, extension: record.artifactExtension })
          .catch(() => null);
        let basebackup: { startLsn?: unknown; timeline?: unknown } | null | undefined = null;
        try {
          basebackup = bytes ? (JSON.parse(bytes.toString('utf8')) as { basebackup?: { startLsn?: unknown; timeline?: unknown } | null }).basebackup : null;
        } catch {
          basebackup = null;
        }
        if (basebackup && typeof basebackup.startLsn === 'string' && LSN.test(basebackup.startLsn) && Number.isInteger(basebackup.timeline) && (basebackup.timeline as number) > 0) {
          seen.set(`${basebackup.timeline}@${basebackup.startLsn}`, { startLsn: basebackup.startLsn, timeline: basebackup.timeline as number });
        }
      }
      // Not knowing where a retained base backup starts, no WAL can safely go.
      if (seen.size > 1) return `the copies of base backup ${record.backupId} disagree on where it starts (${[...seen.keys()].join(', ')}): no WAL is expired`;
      const facts = [...seen.values()][0];
      if (!facts) return `the start of base backup ${record.backupId} cannot be read from any copy's manifest: no WAL is expired`;
      out.push({ backupId: record.backupId, timeline: facts.timeline, startLsn: facts.startLsn, finishedAt: record.finishedAt ?? record.recoveryPoint });
    }
    return out;
  }
}
