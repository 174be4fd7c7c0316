import type { FenceCommandOutcome } from '@continuity/contracts';
import { redactSecrets } from '@continuity/runtime';
import type { EpochRecord } from '../coordination/failover-store.js';
import { runFenceCommand } from './fence-command.js';
import { iso } from './observations.js';
import type { BeforeAnnounce, TakenEpoch } from './promotion.js';
import { memberEndpoint, type ResourceContext } from './resource-context.js';

const NOTHING = { fence: null, note: '', abandon: null };

/** "succeeded (exit 0) in 120 ms", "timed out after 30000 ms (killed)", …: for reasons and logs. */
export const describeFenceOutcome = (o: FenceCommandOutcome): string => {
  switch (o.outcome) {
    case 'succeeded':
      return `succeeded (exit 0) in ${o.durationMs} ms`;
    case 'failed':
      return `failed (${o.exitCode !== null ? `exit ${o.exitCode}` : `signal ${o.signal}`}) in ${o.durationMs} ms`;
    case 'timed-out':
      return `timed out after ${o.durationMs} ms (killed)`;
    case 'not-started':
      return `could not be started (${o.output.split('\n')[0]})`;
    default: {
      const unreachable: never = o.outcome;
      throw new Error(`unknown fence outcome ${String(unreachable)}`);
    }
  }
};

/**
 * An earlier attempt of the same outage already fenced `from` by its command: the epoch it took
 * was never routed (the route is still below it), it failed over from the same primary, and its
 * command succeeded. Running the command again would fence it twice for one failure.
 */
export const reusableFence = (previous: EpochRecord | null, from: string, routeEpoch: number): FenceCommandOutcome | null => {
  const outcome = previous?.fence?.outcome;
  if (!previous || !outcome || previous.from !== from || previous.fence!.member !== from) return null;
  if (previous.epoch <= routeEpoch || outcome.outcome !== 'succeeded') return null;
  return { ...outcome, ran: false };
};

/**
 * The failed primary's configured fence command (power it off, stop its service, detach its
 * volume), run after the epoch is taken and before the standby is promoted, at most once per
 * epoch: the epoch record says it started before it runs and holds its outcome after, so a
 * successor leader knows (and a later attempt of the same outage reuses a success). When it does
 * not succeed: abandon if the member's `fence.required`, else promote and say it is not fenced.
 */
export class OldPrimaryFence {
  constructor(private readonly ctx: ResourceContext) {}

  readonly beforePromotion: BeforeAnnounce = async (taken: TakenEpoch) => {
    const { ctx } = this;
    const { record } = taken;
    const from = record.from;
    const config = memberEndpoint(ctx, from).fence;
    if (!config) return NOTHING;
    const routeEpoch = (await ctx.deps.store.readRoute(ctx.resource))?.record.epoch ?? 0;
    const reused = reusableFence(taken.previous, from, routeEpoch);
    if (reused) {
      ctx.deps.logger.log(`${ctx.resource}: ${from} was fenced by its fence command at epoch ${reused.epoch} in this outage: not run again for epoch ${record.epoch}`);
      return { fence: reused, note: `; ${from} fenced by its fence command at epoch ${reused.epoch} (not run again)`, abandon: null };
    }

    const startedAt = Date.now();
    const started = await ctx.deps.store.updateEpoch({ ...record, fence: { member: from, startedAt: iso(startedAt)!, outcome: null } }, taken.revision);
    if (started === null) return { ...NOTHING, abandon: `epoch ${record.epoch} moved before ${from}'s fence command could run: not run, ${record.to} not promoted` };

    const endpoint = new URL(memberEndpoint(ctx, from).connection);
    const run = await runFenceCommand(config.command, {
      timeoutMs: config.timeoutMs,
      // Only what the command needs: nothing of the service's own environment (NATS credentials, …) but PATH.
      env: {
        PATH: process.env.PATH ?? '/usr/sbin:/usr/bin:/sbin:/bin',
        CONTINUITY_RESOURCE: ctx.resource,
        CONTINUITY_MEMBER: from,
        CONTINUITY_MEMBER_HOST: decodeURIComponent(endpoint.hostname),
        CONTINUITY_MEMBER_PORT: endpoint.port || '5432',
        CONTINUITY_NEW_PRIMARY: record.to,
        CONTINUITY_EPOCH: String(record.epoch),
        CONTINUITY_FAILOVER_ID: record.failoverId,
      },
    });
    const outcome: FenceCommandOutcome = {
      member: from,
      command: config.command.map(redactSecrets),
      ran: true,
      epoch: record.epoch,
      outcome: run.outcome,
      exitCode: run.exitCode,
      signal: run.signal,
      startedAt: iso(run.startedAt)!,
      durationMs: run.durationMs,
      required: config.required,
      output: run.output,
    };
    const recorded = await ctx.deps.store.updateEpoch({ ...record, fence: { member: from, startedAt: iso(startedAt)!, outcome } }, started);
    const what = `fence command for ${from} ${describeFenceOutcome(outcome)}`;
    const firstLine = outcome.output.split('\n')[0];
    const log = `${ctx.resource}: ${what} at epoch ${record.epoch}${firstLine ? `: ${firstLine}` : ''}`;
    if (outcome.outcome === 'succeeded') ctx.deps.logger.log(log);
    else ctx.deps.logger.warn(log);

    if (recorded === null) return { fence: outcome, note: `; ${what}`, abandon: `epoch ${record.epoch} moved while ${from}'s fence command ran: ${record.to} not promoted` };
    if (outcome.outcome === 'succeeded') return { fence: outcome, note: `; ${from} fenced: its ${what}`, abandon: null };
    if (config.required) return { fence: outcome, note: `; ${what}`, abandon: `${what}, and fence.required is true: ${record.to} not promoted, ${from} may still be running` };
    return { fence: outcome, note: `; ${what}: promoting anyway (fence.required is false), ${from} is NOT fenced`, abandon: null };
  };
}
