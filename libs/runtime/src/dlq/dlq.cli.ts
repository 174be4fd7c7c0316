import { userInfo } from 'node:os';
import { Command, CommanderError, Option } from 'commander';
import type { NatsConnection } from '@nats-io/transport-node';
import { jetstream } from '@nats-io/jetstream';
import { ContinuityPublisher, DomainError } from '@continuity/contracts';
import { connectNats, DeadLetterFilter, DeadLetters, DeadLetterSummary, parseDeadLetterSequence } from '@continuity/messaging';
import { baseEnvSchema, ConfigError, loadConfig, natsAuthOf, topologyFor } from '../config.js';
import { redactSecrets } from '../secrets.js';

/**
 * `continuity-dlq list|show|replay`: the operator's command for dead letters, the same as the
 * `/dlq` routes but with no service running (it talks to NATS only). Reads `NATS_URL` and
 * `CONTINUITY_NAMESPACE`. Exit codes: 0 done, 1 failed (refused, not found, NATS down), 2 usage.
 */

export interface CliIo {
  env?: NodeJS.ProcessEnv;
  out?: (line: string) => void;
  err?: (line: string) => void;
}

class UsageError extends Error {}

const envSchema = baseEnvSchema(0).pick({ NATS_URL: true, CONTINUITY_NAMESPACE: true, NATS_NKEY_SEED_FILE: true, NATS_CREDS: true, NATS_USER: true, NATS_PASSWORD: true, NATS_CA: true });

const one = (letter: DeadLetterSummary) =>
  [
    String(letter.sequence).padStart(6),
    letter.deadLetteredAt,
    letter.consumer,
    letter.event ? `${letter.event.type} ${letter.event.id} (${letter.event.resource})` : '(not an event)',
    `${letter.deliveryCount} deliveries`,
    letter.replayed ? `replayed by ${letter.replayed.by} at ${letter.replayed.at}${letter.replayed.attempt > 1 ? ` (×${letter.replayed.attempt})` : ''}` : 'not replayed',
    `\n         ${letter.reason}`,
  ].join('  ');

const filterOf = (options: { consumer?: string; since?: string; id?: string }): DeadLetterFilter => {
  const since = options.since === undefined ? undefined : new Date(options.since);
  if (since && Number.isNaN(since.getTime())) throw new UsageError(`--since must be an ISO-8601 time, e.g. 2026-11-26T09:00:00Z (got ${JSON.stringify(options.since)})`);
  return { consumer: options.consumer, since, eventId: options.id };
};

export const runDlqCli = async (argv: string[], io: CliIo = {}): Promise<number> => {
  const out = io.out ?? ((line: string) => process.stdout.write(`${line}\n`));
  const err = io.err ?? ((line: string) => process.stderr.write(`${line}\n`));
  let nc: NatsConnection | undefined;

  const open = async () => {
    let env;
    try {
      env = loadConfig(envSchema, io.env ?? process.env);
    } catch (error) {
      if (error instanceof ConfigError) throw new UsageError(error.message);
      throw error;
    }
    try {
      nc = await connectNats(env.NATS_URL, natsAuthOf(env), { name: 'continuity-dlq', timeout: 5_000 });
    } catch (error) {
      if (error instanceof ConfigError) throw new UsageError(error.message);
      throw new Error(`NATS is not reachable at NATS_URL=${redactSecrets(env.NATS_URL)}: ${(error as Error).message}`);
    }
    const topology = topologyFor(env.CONTINUITY_NAMESPACE);
    return new DeadLetters(nc, { topology, publisher: new ContinuityPublisher(jetstream(nc), { source: 'continuity-dlq', topology }) });
  };

  const program = new Command('continuity-dlq')
    .description('List, show and replay dead letters (NATS_URL, CONTINUITY_NAMESPACE from the environment)')
    .exitOverride()
    .configureOutput({ writeOut: (s) => out(s.trimEnd()), writeErr: (s) => err(s.trimEnd()) });
  const filters = (command: Command) =>
    command
      .option('--consumer <durable>', 'only dead letters of this durable consumer, e.g. verifier_BackupCreated')
      .option('--since <time>', 'only those dead-lettered at or after this ISO-8601 time')
      .option('--id <event-id>', 'only those of this event id');

  filters(program.command('list').description('dead letters, oldest first'))
    .addOption(new Option('--after <seq>', 'start after this dead-letter sequence (paging)').argParser((v) => parseDeadLetterSequence(v)))
    .addOption(new Option('--limit <n>', 'at most this many (1-500)').default(50).argParser(Number))
    .option('--json', 'one JSON object: { items, next }')
    .action(async (options) => {
      const page = await (await open()).list({ ...filterOf(options), after: options.after, limit: options.limit });
      if (options.json) return out(JSON.stringify(page));
      if (page.items.length === 0) out('no dead letters');
      for (const letter of page.items) out(one(letter));
      if (page.next !== null) out(`more: continuity-dlq list --after ${page.next}`);
    });

  program
    .command('show <seq>')
    .description('one dead letter whole: reason, headers and body')
    .action(async (seq: string) => {
      out(JSON.stringify(await (await open()).show(parseDeadLetterSequence(seq)), null, 2));
    });

  filters(program.command('replay [seq]').description('send a dead letter (or every one matching the filters) back to its consumer, once'))
    .option('--force', 'replay even if it was replayed before')
    .option('--by <operator>', 'who is replaying (recorded in the audit ledger; default: your user name)')
    .action(async (seq: string | undefined, options) => {
      const by: string = options.by ?? io.env?.USER ?? process.env.USER ?? userInfo().username;
      const filter = filterOf(options);
      if (seq === undefined && !filter.consumer && !filter.since && !filter.eventId) {
        throw new UsageError('name a dead-letter sequence, or filter with --consumer, --since or --id (replaying every dead letter at once is refused)');
      }
      const deadLetters = await open();
      const targets: number[] = [];
      if (seq !== undefined) targets.push(parseDeadLetterSequence(seq));
      else {
        for (let after: number | null = 0; after !== null; ) {
          const page: Awaited<ReturnType<DeadLetters['list']>> = await deadLetters.list({ ...filter, after, limit: 500 });
          targets.push(...page.items.filter((l) => l.event && (options.force || !l.replayed)).map((l) => l.sequence));
          after = page.next;
        }
        if (targets.length === 0) out('nothing to replay');
      }
      let failed = 0;
      for (const target of targets) {
        try {
          const result = await deadLetters.replay(target, { by, force: !!options.force });
          out(`replayed ${target} to ${result.consumer} (event ${result.recorded.data.original.eventId}); recorded as DeadLetterReplayed ${result.recorded.id}`);
        } catch (error) {
          if (!(error instanceof DomainError) || error.status >= 500) throw error;
          failed++;
          err(`not replayed ${target}: ${error.message}`);
        }
      }
      if (failed > 0) throw new CommanderError(1, 'dlq.replay', `${failed} of ${targets.length} not replayed`);
    });

  try {
    await program.parseAsync(argv, { from: 'user' });
    return 0;
  } catch (error) {
    if (error instanceof CommanderError) {
      if (error.code === 'commander.helpDisplayed' || error.code === 'commander.help' || error.exitCode === 0) return 0;
      if (error.code === 'dlq.replay') {
        err(error.message);
        return 1;
      }
      return 2; // commander has printed the usage problem
    }
    if (error instanceof UsageError || (error instanceof DomainError && error.status === 400)) {
      err(error.message);
      return 2;
    }
    err(`continuity-dlq: ${error instanceof DomainError ? error.message : (error as Error).message}`);
    return 1;
  } finally {
    await nc?.close().catch(() => undefined);
  }
};
