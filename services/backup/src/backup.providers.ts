import { natsAuthOf } from '@continuity/runtime';
import { Logger, Provider } from '@nestjs/common';
import type { NatsConnection } from '@nats-io/transport-node';
import type { Pool } from 'pg';
import type { ContinuityPublisher, Topology } from '@continuity/contracts';
import { ConfigError, NATS_CONNECTION, PG_POOL, PUBLISHER, SERVICE_CONFIG, TOPOLOGY } from '@continuity/runtime';
import { BackupConfig, BackupConfigError, emptyConfig, loadBackupConfig } from './config/backup-config.loader.js';
import type { BackupEnv } from './backup.env.js';
import { BackupGraph, wireBackup } from './backup.wiring.js';
import { BACKUP_CONFIG, BACKUP_GRAPH, BACKUP_RUNNER, CATALOGUE, DRILL_STORE, DRILLS, RESTORE_JOBS, RETENTION } from './tokens.js';

/** Loads the policy file; a bad one stops the service naming CONTINUITY_CONFIG, the file, the key. */
export const loadServiceConfig = async (env: Pick<BackupEnv, 'CONTINUITY_CONFIG'>, logger = new Logger('BackupConfig')): Promise<BackupConfig> => {
  if (!env.CONTINUITY_CONFIG) {
    logger.warn('CONTINUITY_CONFIG is not set: running with no resources, locations or policies (nothing will be backed up)');
    return emptyConfig();
  }
  try {
    const config = await loadBackupConfig(env.CONTINUITY_CONFIG);
    for (const policy of config.policies.values()) {
      const compliance = policy.threeTwoOneOptOut
        ? `opts out of 3-2-1 (${policy.threeTwoOneOptOut}); fails ${policy.threeTwoOneFailures.map((f) => f.rule).join(', ') || 'nothing'}`
        : 'meets 3-2-1';
      logger.log(
        `policy ${policy.name}: ${policy.resourceName} (${policy.resource.kind}) → ${policy.copies.map((c) => c.name).join(', ')}; ${
          policy.schedule ? `schedule ${policy.schedule.kind === 'cron' ? policy.schedule.expression : policy.schedule.text}` : 'on demand only'
        }; ${compliance}${policy.encryption ? '; encrypted (age)' : ''}`,
      );
    }
    return config;
  } catch (error) {
    if (error instanceof BackupConfigError) throw new ConfigError([{ variable: 'CONTINUITY_CONFIG', message: error.message }]);
    throw error;
  }
};

/** One part of the graph under its own token, for the controllers, listeners and scheduler that inject it. */
const part = (provide: symbol, pick: (graph: BackupGraph) => unknown): Provider => ({ provide, inject: [BACKUP_GRAPH], useFactory: pick });

export const backupProviders: Provider[] = [
  { provide: BACKUP_CONFIG, inject: [SERVICE_CONFIG], useFactory: (env: BackupEnv) => loadServiceConfig(env) },
  {
    provide: BACKUP_GRAPH,
    inject: [BACKUP_CONFIG, PG_POOL, NATS_CONNECTION, PUBLISHER, SERVICE_CONFIG, TOPOLOGY],
    useFactory: async (config: BackupConfig, pool: Pool, nc: NatsConnection, publisher: ContinuityPublisher, env: BackupEnv, topology: Topology) => {
      const graph = wireBackup({ config, pool, nc, publisher, topology }, { logger: (name) => new Logger(name), replicas: env.NATS_REPLICAS, natsAuth: natsAuthOf(env), restoreJobs: env.BACKUP_RESTORE_JOBS, restoreMaintenanceWorkMem: env.BACKUP_RESTORE_MAINTENANCE_WORK_MEM });
      await graph.catalogue.migrate();
      await graph.drillStore.migrate();
      await graph.walInventory.migrate();
      return graph;
    },
  },
  part(CATALOGUE, (g) => g.catalogue),
  part(RETENTION, (g) => g.retention),
  part(BACKUP_RUNNER, (g) => g.runner),
  part(RESTORE_JOBS, (g) => g.restoreJobs),
  part(DRILLS, (g) => g.drills),
  part(DRILL_STORE, (g) => g.drillStore),
];
