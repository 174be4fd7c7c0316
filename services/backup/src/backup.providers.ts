import { Logger, Provider } from '@nestjs/common';
import type { NatsConnection } from '@nats-io/transport-node';
import type { Pool } from 'pg';
import type { ContinuityPublisher } from '@continuity/contracts';
import { ConfigError, NATS_CONNECTION, PG_POOL, PUBLISHER, SERVICE_CONFIG } from '@continuity/runtime';
import { BackupConfig, BackupConfigError, emptyConfig, loadBackupConfig } from './config/backup-config.loader.js';
import { Catalogue } from './catalogue/catalogue.js';
import { LocationRegistry } from './backup-run/locations/location.registry.js';
import { BackupRunner } from './backup-run/backup-runner.js';
import { RetentionRunner } from './retention/retention.runner.js';
import { RestoreService } from './restore/restore.service.js';
import type { BackupEnv } from './backup.env.js';
import { BACKUP_CONFIG, BACKUP_RUNNER, CATALOGUE, LOCATIONS, RESTORE, RETENTION } from './tokens.js';

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

export const backupProviders: Provider[] = [
  { provide: BACKUP_CONFIG, inject: [SERVICE_CONFIG], useFactory: (env: BackupEnv) => loadServiceConfig(env) },
  {
    provide: CATALOGUE,
    inject: [PG_POOL],
    useFactory: async (pool: Pool) => {
      const catalogue = new Catalogue(pool);
      await catalogue.migrate();
      return catalogue;
    },
  },
  { provide: LOCATIONS, inject: [BACKUP_CONFIG, NATS_CONNECTION, SERVICE_CONFIG], useFactory: (config: BackupConfig, nc: NatsConnection, env: BackupEnv) => new LocationRegistry(config, nc, env.NATS_REPLICAS) },
  {
    provide: RETENTION,
    inject: [PG_POOL, CATALOGUE, LOCATIONS, PUBLISHER],
    useFactory: (pool: Pool, catalogue: Catalogue, locations: LocationRegistry, publisher: ContinuityPublisher) =>
      new RetentionRunner({ pool, catalogue, locations, publisher, logger: new Logger('Retention') }),
  },
  {
    provide: BACKUP_RUNNER,
    inject: [BACKUP_CONFIG, LOCATIONS, CATALOGUE, PUBLISHER, RETENTION],
    useFactory: (config: BackupConfig, locations: LocationRegistry, catalogue: Catalogue, publisher: ContinuityPublisher, retention: RetentionRunner) => {
      const runner: BackupRunner = new BackupRunner({
        config,
        locations,
        catalogue,
        publisher,
        logger: new Logger('BackupRun'),
        afterCreated: async (policy) => {
          await retention.apply(policy, () => runner.flushOutbox());
        },
      });
      return runner;
    },
  },
  {
    provide: RESTORE,
    inject: [BACKUP_CONFIG, CATALOGUE, LOCATIONS],
    useFactory: (config: BackupConfig, catalogue: Catalogue, locations: LocationRegistry) =>
      new RestoreService({ catalogue, location: (name) => (config.locations.has(name) ? locations.get(name) : null) }),
  },
];
