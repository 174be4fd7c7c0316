#!/usr/bin/env node
import { Command, CommanderError } from 'commander';
import { SingleBar } from 'cli-progress';
import { jetstream } from '@nats-io/jetstream';
import { connect, type NatsConnection } from '@nats-io/transport-node';
import { Pool } from 'pg';
import { ContinuityPublisher } from '@continuity/contracts';
import { ConfigError, loadConfig, redactUrl, topologyFor } from '@continuity/runtime';
import { backupEnvSchema, BackupEnv } from '../backup.env.js';
import { BackupConfig, BackupConfigError, emptyConfig, loadBackupConfig } from '../config/backup-config.loader.js';
import { Catalogue, BackupAlreadyRunningError } from '../catalogue/catalogue.js';
import { LocationRegistry } from '../backup-run/locations/location.registry.js';
import { BackupRunner, UnknownResourceError } from '../backup-run/backup-runner.js';
import { RetentionRunner } from '../retention/retention.runner.js';
import { RestoreError, RestoreService } from '../restore/restore.service.js';
import { EncryptionKeyError, loadAgeKey } from '../backup-run/encryption.js';
import { formatBytes, table } from './format.js';

/**
 * `continuity`: the SRE's command line for the backup service. It works on its own (no running
 * service needed, as a restore in a disaster must): it reads the same environment as the service
 * (CONTINUITY_CONFIG, DATABASE_URL for the catalogue, NATS_URL for events and object stores) and
 * runs backups and restores in this process. The catalogue's unique index still allows only one
 * backup per resource at a time, whether started here or by the service.
 */

class CliError extends Error {
  constructor(
    message: string,
    readonly exitCode = 1,
  ) {
    super(message);
  }
}

const out = (line = '') => process.stdout.write(`${line}\n`);
const err = (line: string) => process.stderr.write(`${line}\n`);

interface Context {
  env: BackupEnv;
  config: BackupConfig;
  pool: Pool;
  nc: NatsConnection;
  catalogue: Catalogue;
  locations: LocationRegistry;
  publisher: ContinuityPublisher;
  close(): Promise<void>;
}

const open = async (options: { config?: string }): Promise<Context> => {
  let env: BackupEnv;
  try {
    env = loadConfig(backupEnvSchema, { ...process.env, ...(options.config ? { CONTINUITY_CONFIG: options.config } : {}) });
  } catch (error) {
    if (error instanceof ConfigError) throw new CliError(error.message, 2);
    throw error;
  }
  let config: BackupConfig = emptyConfig();
  if (env.CONTINUITY_CONFIG) {
    try {
      config = await loadBackupConfig(env.CONTINUITY_CONFIG);
    } catch (error) {
      if (error instanceof BackupConfigError) throw new CliError(error.message, 2);
      throw error;
    }
  }
  let nc: NatsConnection;
  try {
    nc = await connect({ servers: env.NATS_URL.split(',').map((s) => s.trim()), name: 'continuity-cli', timeout: 5_000 });
  } catch (error) {
    throw new CliError(`NATS is not reachable at NATS_URL=${env.NATS_URL}: ${(error as Error).message}`);
  }
  const pool = new Pool({ connectionString: env.DATABASE_URL, max: 4, connectionTimeoutMillis: 5_000 });
  const catalogue = new Catalogue(pool);
  try {
    await catalogue.migrate();
  } catch (error) {
    await nc.close();
    await pool.end().catch(() => undefined);
    throw new CliError(`the catalogue database is not reachable at DATABASE_URL=${redactUrl(env.DATABASE_URL)}: ${(error as Error).message}`);
  }
  const locations = new LocationRegistry(config, nc, env.NATS_REPLICAS);
  const publisher = new ContinuityPublisher(jetstream(nc), { source: 'backup', topology: topologyFor(env.CONTINUITY_NAMESPACE) });
  return {
    env,
    config,
    pool,
    nc,
    catalogue,
    locations,
    publisher,
    close: async () => {
      await locations.close();
      await nc.drain().catch(() => undefined);
      await pool.end().catch(() => undefined);
    },
  };
};

const withContext = async <T>(options: { config?: string }, work: (ctx: Context) => Promise<T>): Promise<T> => {
  const ctx = await open(options);
  try {
    return await work(ctx);
  } finally {
    await ctx.close();
  }
};

const progressBar = (label: string) =>
  new SingleBar({
    format: `${label} [{bar}] {percentage}% | {done} of ~{expected} | {duration_formatted}`,
    barCompleteChar: '█',
    barIncompleteChar: '░',
    hideCursor: true,
    stream: process.stderr,
    noTTYOutput: false,
    fps: 5,
  });

const backupCommand = async (resource: string, options: { config?: string; json?: boolean; progress?: boolean }) =>
  withContext(options, async (ctx) => {
    const logger = { log: () => undefined, warn: (m: string) => err(`warning: ${m}`), error: () => undefined };
    const retention = new RetentionRunner({ pool: ctx.pool, catalogue: ctx.catalogue, locations: ctx.locations, publisher: ctx.publisher, logger });
    const runner: BackupRunner = new BackupRunner({
      config: ctx.config,
      locations: ctx.locations,
      catalogue: ctx.catalogue,
      publisher: ctx.publisher,
      logger,
      afterCreated: async (policy) => {
        const report = await retention.apply(policy, () => runner.flushOutbox());
        if (report.expired.length) err(`retention (${policy.name}): expired ${report.expired.length} older backup(s), kept ${report.kept}`);
      },
    });
    const showBar = options.progress !== false && process.stderr.isTTY && !options.json;
    const bar = progressBar(resource);
    let barStarted = false;
    let started: Awaited<ReturnType<BackupRunner['start']>>;
    try {
      started = await runner.start(resource, {
        trigger: 'cli',
        onProgress: (p) => {
          if (!showBar) return;
          const total = Math.max(p.bytesExpected ?? 0, p.bytesDone, 1);
          if (!barStarted) {
            bar.start(total, p.bytesDone, { done: formatBytes(p.bytesDone), expected: formatBytes(p.bytesExpected) });
            barStarted = true;
          }
          bar.setTotal(total);
          bar.update(p.bytesDone, { done: formatBytes(p.bytesDone), expected: formatBytes(p.bytesExpected) });
        },
      });
    } catch (error) {
      if (error instanceof UnknownResourceError) throw new CliError(error.message, 2);
      if (error instanceof BackupAlreadyRunningError) throw new CliError(error.message, 3);
      throw error;
    }
    if (!options.json) err(`backup ${started.backupId} of ${resource} started`);
    const outcome = await started.done;
    if (barStarted) {
      if (outcome.state === 'created') bar.update(bar.getTotal());
      bar.stop();
    }
    const record = await ctx.catalogue.get(outcome.backupId);
    if (options.json) {
      out(JSON.stringify(outcome.state === 'created' ? { ...record, event: outcome.event.id } : { backupId: outcome.backupId, state: 'failed', stage: outcome.stage, reason: outcome.reason }));
    } else if (outcome.state === 'created') {
      out(`backup ${outcome.backupId} of ${resource} created`);
      out(`  size     ${formatBytes(outcome.sizeBytes)} (${outcome.sizeBytes} bytes${record?.encryption ? ', encrypted with age' : ''})`);
      out(`  sha256   ${outcome.sha256}`);
      out(`  copies   ${outcome.copies.length}`);
      out(table(outcome.copies.map((c) => [`    ${c.location}`, c.uri])));
      if (record && !record.threeTwoOne.compliant) out(`  3-2-1    not met (${record.threeTwoOne.failedRules.join(', ')}); policy opts out: ${record.threeTwoOne.optOut}`);
    }
    if (outcome.state === 'failed') throw new CliError(`backup ${outcome.backupId} of ${resource} failed at ${outcome.stage}: ${outcome.reason}`);
  });

const restoreCommand = async (backupId: string, options: { to: string; key?: string; clean?: boolean; config?: string; progress?: boolean }) =>
  withContext(options, async (ctx) => {
    let identities: string[] = [];
    if (options.key) {
      try {
        identities = (await loadAgeKey(options.key)).identities;
      } catch (error) {
        if (error instanceof EncryptionKeyError) throw new CliError(error.message, 2);
        throw error;
      }
      if (!identities.length) throw new CliError(`${options.key} holds only recipients (age1…): restoring needs the secret key (AGE-SECRET-KEY-1…)`, 2);
    }
    const restore = new RestoreService({ catalogue: ctx.catalogue, location: (name) => (ctx.config.locations.has(name) ? ctx.locations.get(name) : null) });
    const bar = progressBar('restore');
    let barStarted = false;
    const showBar = options.progress !== false && process.stderr.isTTY;
    try {
      const result = await restore.restore({
        backupId,
        to: options.to,
        identities,
        clean: options.clean,
        onProgress: (done, total) => {
          if (!showBar) return;
          if (!barStarted) {
            bar.start(Math.max(total, 1), done, { done: formatBytes(done), expected: formatBytes(total) });
            barStarted = true;
          }
          bar.update(done, { done: formatBytes(done), expected: formatBytes(total) });
        },
        onNotice: (message) => {
          if (barStarted) {
            bar.stop();
            barStarted = false;
          }
          err(`warning: ${message}`);
        },
      });
      if (barStarted) bar.stop();
      out(`restored backup ${result.backupId} of ${result.resource} into ${result.target}`);
      out(`  from copy ${result.copy.location} (${result.copy.uri}), SHA-256 verified, ${formatBytes(result.bytes)} in ${(result.durationMs / 1000).toFixed(1)} s`);
      const refused = result.attempts.filter((a) => !a.ok);
      if (refused.length) out(`  refused  ${refused.map((a) => `${a.location}: ${a.error}`).join('; ')}`);
    } catch (error) {
      if (barStarted) bar.stop();
      if (error instanceof RestoreError) throw new CliError(`${error.message} [${error.code}]`);
      throw error;
    }
  });

const listCommand = async (resource: string | undefined, options: { config?: string; json?: boolean; limit?: string }) =>
  withContext(options, async (ctx) => {
    const records = await ctx.catalogue.list({ resource, limit: Number(options.limit ?? 50) });
    if (options.json) return void out(JSON.stringify(records));
    if (!records.length) return void out(resource ? `no backups of ${resource}` : 'no backups');
    out(
      table([
        ['BACKUP', 'RESOURCE', 'STATE', 'RECOVERY POINT', 'SIZE', 'COPIES', 'VERIFIED'],
        ...records.map((r) => [
          r.backupId,
          r.resource,
          r.state,
          r.recoveryPoint,
          r.sizeBytes === null ? formatBytes(r.bytesDone) : formatBytes(r.sizeBytes),
          String(r.state === 'created' ? r.copies.length : r.plannedCopies.length),
          r.verdict?.verdict ?? '-',
        ]),
      ]),
    );
  });

const checkConfigCommand = async (file: string | undefined) => {
  const path = file ?? process.env.CONTINUITY_CONFIG;
  if (!path) throw new CliError('no configuration file: pass one or set CONTINUITY_CONFIG', 2);
  try {
    const config = await loadBackupConfig(path);
    out(`${config.file}: ${config.resources.size} resources, ${config.locations.size} locations, ${config.policies.size} policies`);
    for (const p of config.policies.values()) {
      const compliance = p.threeTwoOneFailures.length ? `opts out of 3-2-1 (${p.threeTwoOneOptOut}): ${p.threeTwoOneFailures.map((f) => f.message).join('; ')}` : 'meets 3-2-1';
      out(`  ${p.name}: ${p.resourceName} → ${p.copies.map((c) => `${c.name} (${c.location.site}, ${c.location.medium})`).join(', ')}; ${compliance}`);
    }
  } catch (error) {
    if (error instanceof BackupConfigError) throw new CliError(error.message, 2);
    throw error;
  }
};

export const buildProgram = () => {
  const program = new Command('continuity')
    .description('Continuity backups: back up protected resources to 3-2-1 copies and restore them.')
    .option('-c, --config <file>', 'policy file (default: $CONTINUITY_CONFIG)')
    .showHelpAfterError()
    .exitOverride();
  const global = () => program.opts<{ config?: string }>();
  program
    .command('backup')
    .description('back up a resource now, following its policy (one pass, every copy)')
    .argument('<resource>', 'resource name from the policy file')
    .option('--json', 'print the result as JSON')
    .option('--no-progress', 'no progress bar')
    .action((resource: string, options: { json?: boolean; progress?: boolean }) => backupCommand(resource, { ...global(), ...options }));
  program
    .command('restore')
    .description('restore a backup into a directory or a PostgreSQL database, from its first healthy copy')
    .argument('<backupId>', 'backup id (see `continuity list`)')
    .requiredOption('--to <target>', 'a directory that does not exist or is empty, or a postgres:// URL (the database is created if missing)')
    .option('--key <file>', 'age key file holding the AGE-SECRET-KEY for an encrypted backup')
    .option('--clean', 'PostgreSQL: restore into a non-empty database, replacing the objects the dump holds')
    .option('--no-progress', 'no progress bar')
    .action((backupId: string, options: { to: string; key?: string; clean?: boolean; progress?: boolean }) => restoreCommand(backupId, { ...global(), ...options }));
  program
    .command('list')
    .description('list backups, newest first')
    .argument('[resource]', 'only this resource')
    .option('--json', 'print JSON')
    .option('--limit <n>', 'at most this many', '50')
    .action((resource: string | undefined, options: { json?: boolean; limit?: string }) => listCommand(resource, { ...global(), ...options }));
  program
    .command('check-config')
    .description('validate a policy file and show each policy\'s copies and 3-2-1 status')
    .argument('[file]', 'default: --config or $CONTINUITY_CONFIG')
    .action((file?: string) => checkConfigCommand(file ?? global().config));
  return program;
};

export const main = async (argv = process.argv) => {
  try {
    await buildProgram().parseAsync(argv);
    return 0;
  } catch (error) {
    if (error instanceof CommanderError) return error.exitCode === 0 ? 0 : 2;
    if (error instanceof CliError) {
      err(`continuity: ${error.message}`);
      return error.exitCode;
    }
    err(`continuity: ${(error as Error)?.stack ?? String(error)}`);
    return 1;
  }
};

if (require.main === module) {
  void main().then((code) => {
    process.exitCode = code;
  });
}
