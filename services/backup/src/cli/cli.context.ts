import { jetstream } from '@nats-io/jetstream';
import type { NatsConnection } from '@nats-io/transport-node';
import { Pool } from 'pg';
import { ContinuityPublisher } from '@continuity/contracts';
import { ConfigError, loadConfig, natsAuthOf, redactUrl, topologyFor } from '@continuity/runtime/standalone';
import { connectNats } from '@continuity/messaging/nats';
import { backupEnvSchema, BackupEnv } from '../backup.env.js';
import { BackupGraph, wireBackup } from '../backup.wiring.js';
import { BackupConfig, BackupConfigError, emptyConfig, loadBackupConfig } from '../config/backup-config.loader.js';
import { CliError, err, UnreachableError } from './cli.output.js';

/** The CLI's process: the service's object graph over its own connections. */
export interface Context extends BackupGraph {
  env: BackupEnv;
  pool: Pool;
  nc: NatsConnection;
  publisher: ContinuityPublisher;
  close(): Promise<void>;
}

/** The policy file named by `--config` or CONTINUITY_CONFIG; a bad one is a usage error (exit 2). */
export const readPolicies = async (env: BackupEnv): Promise<BackupConfig> => {
  if (!env.CONTINUITY_CONFIG) return emptyConfig();
  try {
    return await loadBackupConfig(env.CONTINUITY_CONFIG);
  } catch (error) {
    if (error instanceof BackupConfigError) throw new CliError(error.message, 2);
    throw error;
  }
};

/** The service's environment as the CLI reads it (`--config` over CONTINUITY_CONFIG); a bad one exits 2. */
export const readEnv = (options: { config?: string }): BackupEnv => {
  try {
    return loadConfig(backupEnvSchema, { ...process.env, ...(options.config ? { CONTINUITY_CONFIG: options.config } : {}) });
  } catch (error) {
    if (error instanceof ConfigError) throw new CliError(error.message, 2);
    throw error;
  }
};

const open = async (options: { config?: string }): Promise<Context> => {
  const env = readEnv(options);
  const config = await readPolicies(env);
  let nc: NatsConnection;
  try {
    nc = await connectNats(env.NATS_URL, natsAuthOf(env), { name: 'continuity-cli', timeout: 5_000 });
  } catch (error) {
    if (error instanceof ConfigError) throw new CliError(error.message, 2);
    throw new UnreachableError(`NATS is not reachable at NATS_URL=${redactUrl(env.NATS_URL)}: ${(error as Error).message}`);
  }
  const pool = new Pool({ connectionString: env.DATABASE_URL, max: 4, connectionTimeoutMillis: 5_000 });
  const publisher = new ContinuityPublisher(jetstream(nc), { source: 'backup', topology: topologyFor(env.CONTINUITY_NAMESPACE) });
  // Warnings go to stderr; what the service would log as progress, the commands print themselves.
  const logger = { log: () => undefined, warn: (m: string) => err(`warning: ${m}`), error: () => undefined };
  const graph = wireBackup(
    { config, pool, nc, publisher, topology: topologyFor(env.CONTINUITY_NAMESPACE) },
    {
      logger: () => logger,
      replicas: env.NATS_REPLICAS,
      natsAuth: natsAuthOf(env),
      restoreJobs: env.BACKUP_RESTORE_JOBS,
      restoreMaintenanceWorkMem: env.BACKUP_RESTORE_MAINTENANCE_WORK_MEM,
      onRetention: (policy, report) => {
        if (report.expired.length) err(`retention (${policy.name}): expired ${report.expired.length} older backup(s), kept ${report.kept}`);
      },
    },
  );
  try {
    await graph.catalogue.migrate();
    await graph.drillStore.migrate();
    await graph.walInventory.migrate();
  } catch (error) {
    await nc.close();
    await pool.end().catch(() => undefined);
    throw new UnreachableError(`the catalogue database is not reachable at DATABASE_URL=${redactUrl(env.DATABASE_URL)}: ${(error as Error).message}`);
  }
  return {
    ...graph,
    env,
    pool,
    nc,
    publisher,
    close: async () => {
      await graph.locations.close();
      await nc.drain().catch(() => undefined);
      await pool.end().catch(() => undefined);
    },
  };
};

/**
 * Runs `work` in a context opened for it and always closes it. Commands work on their own (no
 * running service needed, as a restore in a disaster must): they read the same environment as
 * the service (CONTINUITY_CONFIG, DATABASE_URL for the catalogue, NATS_URL for events and object
 * stores) and run in this process.
 */
export const withContext = async <T>(options: { config?: string }, work: (ctx: Context) => Promise<T>): Promise<T> => {
  const ctx = await open(options);
  try {
    return await work(ctx);
  } finally {
    await ctx.close();
  }
};
