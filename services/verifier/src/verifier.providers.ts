import { Logger, Provider } from '@nestjs/common';
import { tmpdir } from 'node:os';
import { resolve } from 'node:path';
import type { NatsConnection } from '@nats-io/transport-node';
import type { Pool } from 'pg';
import { ConfigError, NATS_CONNECTION, natsAuthOf, PG_POOL, SERVICE_CONFIG } from '@continuity/runtime';
import { loadVerifierConfig, VerifierConfig, VerifierConfigError } from './config/verifier-config.js';
import { CopyReaders } from './copies/copy-reader.js';
import { FileCopyReader } from './copies/file.reader.js';
import { ObjectStoreCopyReader } from './copies/object-store.reader.js';
import { DirectoryRestoreTest } from './restore-test/directory.restore-test.js';
import { BaseBackupRestoreTest } from './restore-test/basebackup.restore-test.js';
import { PostgresRestoreTest } from './restore-test/postgres.restore-test.js';
import { Scratch } from './restore-test/scratch.js';
import { LIVENESS, READERS, RUNNER, SCRATCH, STORE, VERIFIER_CONFIG, WAL_STORE } from './tokens.js';
import { WalStore } from './wal/wal.store.js';
import type { VerifierEnv } from './verifier.env.js';
import { InstanceLiveness } from './liveness/instance-liveness.js';
import { VerificationRunner } from './verification/verification.runner.js';
import { VerificationStore } from './verification/verification.store.js';

/** Loads VERIFIER_CONFIG (and CONTINUITY_CONFIG's key files); a bad file stops the service naming the variable, the key and its line. */
export const loadServiceConfig = async (env: Pick<VerifierEnv, 'VERIFIER_CONFIG' | 'CONTINUITY_CONFIG'>, logger = new Logger('VerifierConfig')): Promise<VerifierConfig> => {
  try {
    const config = await loadVerifierConfig({ verifierConfig: env.VERIFIER_CONFIG, backupConfig: env.CONTINUITY_CONFIG });
    for (const note of config.notes) logger.warn(note);
    const assertions = [...config.resources.values()].reduce((n, r) => n + r.assertions.length, 0);
    logger.log(
      `${config.files.length ? config.files.join(', ') : 'no VERIFIER_CONFIG'}: ${config.keys.length} decryption identities, ${config.resources.size} resources configured (${assertions} SQL assertions), ${config.objectStores.size} remote object stores`,
    );
    return config;
  } catch (error) {
    if (error instanceof VerifierConfigError) {
      const variable = env.CONTINUITY_CONFIG && resolve(env.CONTINUITY_CONFIG) === error.file ? 'CONTINUITY_CONFIG' : 'VERIFIER_CONFIG';
      throw new ConfigError([{ variable, message: error.message }]);
    }
    throw error;
  }
};

/**
 * Built before the transport starts consuming (Nest resolves async factories while creating the
 * app): the schema exists, this process holds its liveness lock, and dead processes' scratch
 * databases and folders are gone before the first message is handled.
 */
export const verifierProviders: Provider[] = [
  { provide: VERIFIER_CONFIG, inject: [SERVICE_CONFIG], useFactory: (env: VerifierEnv) => loadServiceConfig(env) },
  {
    provide: STORE,
    inject: [PG_POOL],
    useFactory: async (pool: Pool) => {
      const store = new VerificationStore(pool);
      await store.migrate();
      return store;
    },
  },
  {
    provide: WAL_STORE,
    inject: [PG_POOL, STORE],
    useFactory: async (pool: Pool) => {
      const store = new WalStore(pool);
      await store.migrate();
      return store;
    },
  },
  {
    provide: LIVENESS,
    inject: [SERVICE_CONFIG, PG_POOL, STORE],
    useFactory: async (env: VerifierEnv, pool: Pool) => {
      const liveness = new InstanceLiveness(env.DATABASE_URL, pool);
      await liveness.start();
      return liveness;
    },
  },
  {
    provide: SCRATCH,
    inject: [SERVICE_CONFIG, PG_POOL, LIVENESS],
    useFactory: async (env: VerifierEnv, pool: Pool, liveness: InstanceLiveness) => {
      const scratch = new Scratch(pool, liveness, {
        adminUrl: env.VERIFIER_SCRATCH_DATABASE_URL ?? env.DATABASE_URL,
        prefix: env.VERIFIER_SCRATCH_PREFIX,
        dir: env.VERIFIER_SCRATCH_DIR ?? tmpdir(),
        restoreRole: env.VERIFIER_RESTORE_ROLE,
      });
      const removed = await scratch.sweep();
      if (removed.databases.length || removed.directories.length) {
        new Logger('Scratch').warn(`removed what stopped verifiers left: databases ${removed.databases.join(', ') || 'none'}; folders ${removed.directories.join(', ') || 'none'}`);
      }
      return scratch;
    },
  },
  {
    provide: READERS,
    inject: [NATS_CONNECTION, VERIFIER_CONFIG, SERVICE_CONFIG],
    useFactory: (nc: NatsConnection, config: VerifierConfig, env: VerifierEnv) => {
      const roots = env.VERIFIER_FILE_ROOTS ?? config.fileRoots ?? [];
      new Logger('VerifierConfig').log(roots.length ? `file:// copies are read only under ${roots.join(', ')}` : 'no file roots configured (VERIFIER_FILE_ROOTS): file:// copies are unverifiable');
      return new CopyReaders([new FileCopyReader(roots), new ObjectStoreCopyReader(nc, (bucket) => config.objectStores.get(bucket), natsAuthOf(env))]);
    },
  },
  {
    provide: RUNNER,
    inject: [SERVICE_CONFIG, VERIFIER_CONFIG, READERS, SCRATCH, WAL_STORE],
    useFactory: (env: VerifierEnv, config: VerifierConfig, readers: CopyReaders, scratch: Scratch, wal: WalStore) =>
      new VerificationRunner({
        readers,
        keys: () => config.keys,
        postgres: new PostgresRestoreTest(scratch, {
          assertionTimeoutMs: env.VERIFIER_ASSERTION_TIMEOUT,
          jobs: env.VERIFIER_RESTORE_JOBS,
          maintenanceWorkMem: env.VERIFIER_RESTORE_MAINTENANCE_WORK_MEM,
          assertionsFor: (resource) => config.resources.get(resource)?.assertions ?? [],
        }),
        directory: new DirectoryRestoreTest(scratch),
        // Base backups replay the archived WAL the verifier recorded (WalArchived) to the newest restore point.
        basebackup: new BaseBackupRestoreTest(scratch, { wal: { archive: wal, readers, keys: () => config.keys } }),
      }),
  },
];
