import { jetstream } from '@nats-io/jetstream';
import type { NatsConnection } from '@nats-io/transport-node';
import { ContinuityPublisher } from '@continuity/contracts';
import { connectNats } from '@continuity/messaging/nats';
import { natsAuthOf, redactUrl, topologyFor } from '@continuity/runtime/standalone';
import type { BackupLocation } from '../backup-run/locations/location.js';
import { LocationRegistry } from '../backup-run/locations/location.registry.js';
import type { Catalogue } from '../catalogue/catalogue.js';
import { policyForResource, type BackupConfig } from '../config/backup-config.loader.js';
import { CopiesCatalogue } from '../restore/copies-catalogue.js';
import { RestoreService } from '../restore/restore.service.js';
import type { BackupEnv } from '../backup.env.js';
import { UnreachableError } from './cli.output.js';
import { readEnv, readPolicies, withContext } from './cli.context.js';

/** What a point-in-time restore reads: the catalogue (or the copies' manifests), the restore service, the locations. */
export interface RestoreSources {
  config: BackupConfig;
  catalogue: Pick<Catalogue, 'list' | 'get'>;
  restore: Pick<RestoreService, 'restore' | 'authorize'>;
  location: (name: string) => BackupLocation | null;
  /** Why base backups are listed from the copies' manifests; null when the catalogue is read. */
  fromCopies: string | null;
  /** The NATS credential files of this environment (for wal-fetch's plan: paths only). */
  natsAuthFiles: { NATS_CREDS?: string; NATS_NKEY_SEED_FILE?: string; NATS_CA?: string };
}

const natsFilesOf = (env: BackupEnv) => ({ NATS_CREDS: env.NATS_CREDS, NATS_NKEY_SEED_FILE: env.NATS_NKEY_SEED_FILE, NATS_CA: env.NATS_CA });

/**
 * Runs a restore over the catalogue when it can be reached; over the copies' manifests (the copy
 * locations of the configuration file) when `fromCopies` is asked for, or when the catalogue
 * database or NATS cannot be reached — the disaster path needs neither. Without NATS, object
 * stores on it cannot be read (said so) and RestorePerformed cannot be recorded (said so).
 */
export const withRestoreSources = async <T>(
  options: { config?: string; fromCopies?: boolean },
  resource: string,
  notice: (message: string) => void,
  work: (sources: RestoreSources) => Promise<T>,
): Promise<T> => {
  let why = 'asked for (--from-copies)';
  if (!options.fromCopies) {
    let opened = false;
    try {
      return await withContext(options, (ctx) => {
        opened = true;
        return work({ config: ctx.config, catalogue: ctx.catalogue, restore: ctx.restore, location: (name) => (ctx.config.locations.has(name) ? ctx.locations.get(name) : null), fromCopies: null, natsAuthFiles: natsFilesOf(ctx.env) });
      });
    } catch (error) {
      // Only an unreachable dependency at open: anything the work itself throws is the restore's outcome.
      if (opened || !(error instanceof UnreachableError)) throw error;
      why = error.message;
    }
  }
  const env = readEnv(options);
  const config = await readPolicies(env);
  const auth = natsAuthOf(env);
  const nc: NatsConnection | null = await connectNats(env.NATS_URL, auth, { name: 'continuity-cli', timeout: 5_000 }).catch((error: Error) => {
    notice(`NATS is not reachable at NATS_URL=${redactUrl(env.NATS_URL)} (${error.message}): object stores on it cannot be read, and the restore is not recorded in the ledger`);
    return null;
  });
  const registry = new LocationRegistry(config, nc as NatsConnection, env.NATS_REPLICAS, auth);
  const location = (name: string): BackupLocation | null => {
    const configured = config.locations.get(name);
    if (!configured) return null;
    if (configured.kind === 'object-store' && !configured.natsUrl && !nc) return null;
    return registry.get(name);
  };
  for (const [name, l] of config.locations) if (l.kind === 'object-store' && !l.natsUrl && !nc) notice(`location ${name} is an object store on NATS_URL, which is not reachable: its copies are not used`);
  const publisher = nc ? new ContinuityPublisher(jetstream(nc), { source: 'backup', topology: topologyFor(env.CONTINUITY_NAMESPACE) }) : null;
  try {
    const policy = policyForResource(config, resource);
    const catalogue = policy ? await CopiesCatalogue.load(policy, location, notice) : CopiesCatalogue.empty();
    const restore = new RestoreService({
      catalogue,
      location,
      resource: (name) => config.resources.get(name),
      // Tuned as the service's and the catalogue path's restores are.
      jobs: env.BACKUP_RESTORE_JOBS,
      maintenanceWorkMem: env.BACKUP_RESTORE_MAINTENANCE_WORK_MEM,
      // No outbox without the catalogue database: published directly, or said not to be.
      recordPerformed: async (res, data) => {
        if (!publisher) throw new Error('NATS is not reachable');
        await publisher.publishEnvelope(publisher.build('RestorePerformed', { resource: res, data }));
      },
    });
    return await work({ config, catalogue, restore, location, fromCopies: why, natsAuthFiles: natsFilesOf(env) });
  } finally {
    await registry.close();
    await nc?.drain().catch(() => undefined);
  }
};
