import type { NatsAuthOptions } from '@continuity/messaging/nats';
import type { NatsConnection } from '@nats-io/transport-node';
import type { Pool } from 'pg';
import { DEFAULT_TOPOLOGY, type ContinuityPublisher, type Topology } from '@continuity/contracts';
import { BackupRunner, LoggerLike } from './backup-run/backup-runner.js';
import { LocationRegistry } from './backup-run/locations/location.registry.js';
import { Catalogue } from './catalogue/catalogue.js';
import type { BackupConfig, ResolvedPolicy } from './config/backup-config.loader.js';
import { RestoreJobs } from './restore/restore-jobs.js';
import { RestoreService } from './restore/restore.service.js';
import { RetentionReport, RetentionRunner } from './retention/retention.runner.js';
import { DrillCoordinator } from './drills/drill-coordinator.js';
import { DrillStore } from './drills/drill-store.js';
import { policyForResource } from './config/backup-config.loader.js';
import { WalRetentionRunner } from './retention/wal-retention.runner.js';
import { RestorePoints } from './wal/restore-points.js';
import { WalInventory } from './wal/wal-inventory.js';

/** What the backup service and the CLI are built from: the policy file and the process's connections. */
export interface BackupConnections {
  config: BackupConfig;
  pool: Pool;
  nc: NatsConnection;
  publisher: ContinuityPublisher;
  /** Where the event stream is (the failover step of a drill reads its answer there). */
  topology?: Topology;
}

export interface BackupWiringOptions {
  /** A logger for each part (`BackupRun`, `Retention`). */
  logger: (part: 'BackupRun' | 'Retention' | 'Drills') => LoggerLike;
  /** Told what retention did after each created backup (the CLI prints it). */
  onRetention?: (policy: ResolvedPolicy, report: RetentionReport) => void;
  /** `NATS_REPLICAS`: for object-store buckets whose location does not set `replicas`. */
  replicas: number;
  /** Credentials for object stores on another site's NATS (`natsAuthOf`): this service's own identity there. */
  natsAuth?: NatsAuthOptions;
  /** `BACKUP_RESTORE_JOBS`: `pg_restore --jobs` of a dump restored into a new database. */
  restoreJobs?: number;
  /** `BACKUP_RESTORE_MAINTENANCE_WORK_MEM`: `maintenance_work_mem` of a dump restore's sessions. */
  restoreMaintenanceWorkMem?: string;
}

export interface BackupGraph {
  config: BackupConfig;
  catalogue: Catalogue;
  locations: LocationRegistry;
  retention: RetentionRunner;
  walInventory: WalInventory;
  walRetention: WalRetentionRunner;
  runner: BackupRunner;
  restore: RestoreService;
  restoreJobs: RestoreJobs;
  drillStore: DrillStore;
  drills: DrillCoordinator;
}

/**
 * Builds the backup object graph, the same for the Nest service and the CLI, so a backup or a
 * restore run from the command line (with the service down) behaves as the service's would.
 * Nothing is opened here: the caller migrates the catalogue (`catalogue.migrate()`, `walInventory.migrate()`) and closes
 * the locations; locations open lazily.
 */
export const wireBackup = ({ config, pool, nc, publisher, topology }: BackupConnections, options: BackupWiringOptions): BackupGraph => {
  const catalogue = new Catalogue(pool);
  const locations = new LocationRegistry(config, nc, options.replicas, options.natsAuth);
  const retention = new RetentionRunner({ pool, catalogue, locations, publisher, logger: options.logger('Retention') });
  const walInventory = new WalInventory(pool);
  const walRetention = new WalRetentionRunner({ pool, catalogue, locations, publisher, inventory: walInventory, logger: options.logger('Retention') });
  const runner: BackupRunner = new BackupRunner({
    config,
    locations,
    catalogue,
    publisher,
    logger: options.logger('BackupRun'),
    // Retention follows every created backup; its BackupExpired events leave through the same outbox.
    // Then WAL retention (the WAL the retained base backups need, no more), and, after a base backup of
    // a WAL-archived resource, a restore point just past it: a recent target a replay test can reach.
    afterCreated: async (policy, outcome) => {
      const report = await retention.apply(policy, () => runner.flushOutbox());
      options.onRetention?.(policy, report);
      if (!policy.wal) return;
      await walRetention.apply(policy, () => runner.flushOutbox());
      if ((outcome.event.data as { basebackup?: unknown }).basebackup) {
        const points = new RestorePoints({ policy, publisher, queue: (event) => catalogue.queue(event), flush: () => runner.flushOutbox(), logger: options.logger('BackupRun') });
        await points.create('base-backup', outcome.backupId);
      }
    },
  });
  // A copy in a location no longer in the policy file is skipped with a notice, not an error: the other copies may do.
  const restore = new RestoreService({
    catalogue,
    location: (name) => (config.locations.has(name) ? locations.get(name) : null),
    resource: (name) => config.resources.get(name),
    jobs: options.restoreJobs,
    maintenanceWorkMem: options.restoreMaintenanceWorkMem,
    // Through the outbox like every backup event: published now, or by the next flush if NATS is down.
    recordPerformed: async (resource, data) => {
      await catalogue.queue(publisher.build('RestorePerformed', { resource, data }));
      await runner.flushOutbox();
    },
  });
  const restoreJobs = new RestoreJobs({ restore, catalogue, config, location: (name) => (config.locations.has(name) ? locations.get(name) : null) });
  const drillStore = new DrillStore(pool);
  const drills = new DrillCoordinator({
    config,
    store: drillStore,
    publisher,
    queue: (event) => catalogue.queue(event),
    flush: () => runner.flushOutbox(),
    restoreStep: {
      catalogue,
      restore,
      location: (name) => (config.locations.has(name) ? locations.get(name) : null),
      identities: (resource) => policyForResource(config, resource)?.encryption?.identities ?? [],
    },
    failoverStep: { nc, topology: topology ?? DEFAULT_TOPOLOGY },
    logger: options.logger('Drills'),
  });
  return { config, catalogue, locations, retention, walInventory, walRetention, runner, restore, restoreJobs, drillStore, drills };
};
