import { userInfo } from 'node:os';
import { DomainError, DrillKindSchema, type DrillKind } from '@continuity/contracts';
import { CliError, out } from '../cli.output.js';
import { withContext } from '../cli.context.js';

export interface DrillCommandOptions {
  config?: string;
  kind?: string;
  json?: boolean;
}

const seconds = (ms: number | null) => (ms === null ? '-' : `${(ms / 1000).toFixed(1)} s`);

/**
 * `continuity drill <resource> [--kind restore|failover|full]`: runs a recovery drill in this
 * process and waits for its verdict. Exit 0 passed, 1 failed, 2 usage/config (unknown resource,
 * a kind that does not apply), 3 a drill of the resource is already running.
 */
export const drillCommand = async (resource: string, options: DrillCommandOptions) => {
  let kind: DrillKind | undefined;
  if (options.kind !== undefined) {
    const parsed = DrillKindSchema.safeParse(options.kind);
    if (!parsed.success) throw new CliError(`--kind must be restore, failover or full (got ${JSON.stringify(options.kind)})`, 2);
    kind = parsed.data;
  }
  return withContext(options, async (ctx) => {
    let started;
    try {
      started = await ctx.drills.start(resource, { kind, trigger: 'cli', requestedBy: userInfo().username });
    } catch (error) {
      if (error instanceof DomainError) throw new CliError(error.message, error.code === 'DRILL.ALREADY_RUNNING' ? 3 : 2);
      throw error;
    }
    if (!options.json) out(`drill ${started.view.drillId} of ${resource} (${started.view.kind}) started`);
    const view = await started.done;
    if (options.json) out(JSON.stringify(view));
    else {
      for (const step of view.steps) out(`  ${step.step}: ${step.outcome} in ${seconds(step.durationMs)} (RTO ${seconds(step.rtoMs)}, RPO ${seconds(step.rpoMs)})${step.reason ? ` — ${step.reason}` : ''}`);
      const c = view.completed;
      out(c ? `${c.outcome.toUpperCase()}: RTO ${seconds(c.achieved.rtoMs)} (target ${seconds(c.targets.rtoMs)}), RPO ${seconds(c.achieved.rpoMs)} (target ${seconds(c.targets.rpoMs)})${c.reason ? `; ${c.reason}` : ''}` : 'the drill did not complete');
    }
    if (view.state !== 'passed') throw new CliError(`drill ${view.drillId} ${view.state}`, 1);
  });
};
