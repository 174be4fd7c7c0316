#!/usr/bin/env node
import { Command, CommanderError } from 'commander';
import { CliError, err } from './cli.output.js';
import type { restoreCommand } from './commands/restore.command.js';

/**
 * `continuity`: the SRE's command line for the backup service. It works on its own (no running
 * service needed, as a restore in a disaster must), building the service's object graph in this
 * process (see `cli.context.ts`). This file only assembles the commands; each lives in `commands/`
 * and is loaded by its action, so `--help` loads only commander and a command only what it uses
 * (a restore's start is part of its RTO; a test keeps NestJS, rxjs and the OpenTelemetry SDK out).
 */

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
    .action(async (resource: string, options: { json?: boolean; progress?: boolean }) => {
      const { backupCommand } = await import('./commands/backup.command.js');
      await backupCommand(resource, { ...global(), ...options });
    });
  program
    .command('restore')
    .description(
      'restore a backup into a directory, a PostgreSQL database or (a base backup) a data directory, from its first healthy copy; ' +
        'or a PostgreSQL resource to a point in time (--at | --lsn | --name | --latest) from a base backup and the WAL archive',
    )
    .argument('<backupId|resource>', 'backup id (see `continuity list`), or with a point-in-time target the resource')
    .option('--at <time>', 'point in time: restore to this ISO 8601 moment (with a zone, e.g. 2026-12-01T01:30:00Z)')
    .option('--lsn <lsn>', 'point in time: restore to this WAL position (e.g. 0/3000148)')
    .option('--name <point>', 'point in time: restore to this named restore point')
    .option('--latest', 'point in time: restore to the newest moment in the WAL archive')
    .option('--json', 'point in time: also print the outcome as one JSON line')
    .option('--from-copies', "point in time: list base backups and WAL from the copies' manifests (the locations in the policy file), not the catalogue database (done anyway when it is unreachable)")
    .option('--ledger <url>', 'point in time: check every WAL file against the WalArchived events of this audit service\'s ledger (token in $CONTINUITY_AUDIT_TOKEN)')
    .option(
      '--ledger-key <file>',
      "with --ledger: the ledger's Ed25519 public key(s) in PEM, obtained separately and pinned (repeatable); the ledger's answer is then verified, not believed: one signed tree head checked with a pinned key (or a key it attested) and every event proven included in it",
      (file: string, previous: string[] = []) => [...previous, file],
    )
    .option('--to <target>', 'a directory that does not exist or is empty, or a postgres:// URL (the database is created if missing)')
    .option('--to-data-dir <dir>', 'a base backup: the new or empty PostgreSQL data directory to restore it into')
    .option('--start', 'with --to-data-dir: start the restored server (pg_ctl) and report where it got')
    .option('--port <n>', 'with --start: the port of the restored server')
    .option('--key <file>', 'age key file holding the AGE-SECRET-KEY for an encrypted backup')
    .option('--clean', 'restore over a non-empty target: a database keeps what the dump does not hold; a directory is replaced')
    .option('--allow-any-target', "restore to a target outside the resource's restoreTargets (on your own authority; recorded in RestorePerformed)")
    .option('--no-progress', 'no progress bar')
    .action(async (backupId: string, options: Parameters<typeof restoreCommand>[1]) => {
      const { restoreCommand } = await import('./commands/restore.command.js');
      await restoreCommand(backupId, { ...global(), ...options });
    });
  program
    .command('wal-fetch', { hidden: true })
    .description("PostgreSQL's restore_command in a point-in-time restore: fetch one WAL file from the archive's copies")
    .argument('<file>', 'the WAL file name PostgreSQL asks for (%f)')
    .argument('<dest>', 'where to write it, inside the data directory (%p)')
    .option('--plan <file>', 'the restore plan (default: continuity-restore-plan.json in the working directory)')
    .action(async (file: string, dest: string, options: { plan?: string }) => {
      const { walFetch } = await import('./wal-fetch.main.js');
      const code = await walFetch([file, dest, ...(options.plan ? ['--plan', options.plan] : [])]);
      if (code !== 0) throw new CliError(`wal-fetch ${file} failed`, code);
    });
  program
    .command('list')
    .description('list backups, newest first')
    .argument('[resource]', 'only this resource')
    .option('--json', 'print JSON')
    .option('--limit <n>', 'at most this many', '50')
    .action(async (resource: string | undefined, options: { json?: boolean; limit?: string }) => {
      const { listCommand } = await import('./commands/list.command.js');
      await listCommand(resource, { ...global(), ...options });
    });
  program
    .command('drill')
    .description('rehearse a recovery of a resource (drills: in the policy file): restore into a scratch target and check it, switch over and back, or both; exit 0 only if it passed')
    .argument('<resource>', 'resource name from the drills: section')
    .option('--kind <kind>', 'restore, failover or full (default: the configured kind)')
    .option('--json', 'print the drill as JSON')
    .action(async (resource: string, options: { kind?: string; json?: boolean }) => {
      const { drillCommand } = await import('./commands/drill.command.js');
      await drillCommand(resource, { ...global(), ...options });
    });
  program
    .command('check-config')
    .description('validate a policy file and show each policy\'s copies and 3-2-1 status')
    .argument('[file]', 'default: --config or $CONTINUITY_CONFIG')
    .action(async (file?: string) => {
      const { checkConfigCommand } = await import('./commands/check-config.command.js');
      await checkConfigCommand(file ?? global().config);
    });
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
