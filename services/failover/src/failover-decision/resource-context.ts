import type { RouteRecord } from '@continuity/contracts';
import { type MemberEndpoint, redactConnection } from '../config/failover-config.loader.js';
import type { LeaderLease } from '../coordination/leader-lease.js';
import type { Observation } from '../probing/observation.js';
import type { PgMember } from '../probing/pg-member.js';
import type { FailoverAnnouncer } from './failover-announcer.js';
import type { CompletedFailover, SupervisorDeps } from './failover-attempt.js';
import { NotLeaderError, UnknownMemberError } from './failover.errors.js';
import type { FailoverEvent, FailoverState } from './failover.state.js';
import { iso } from './observations.js';

/**
 * One resource as the supervisor's actions (promotion, switchover, fencing) see it: its members,
 * the lease, the state folded so far and the announcer. The supervisor owns all of it; actions
 * read the state and fold the facts they bring about.
 */
export interface ResourceContext {
  readonly resource: string;
  readonly deps: SupervisorDeps;
  readonly members: ReadonlyMap<string, PgMember>;
  readonly lease: LeaderLease;
  readonly announcer: FailoverAnnouncer;
  state(): FailoverState;
  fold(event: FailoverEvent): void;
  /** Folds a probe (and tells the announcer of it). */
  observe(observation: Observation): void;
  /** The epoch moved under this leader: reconcile before the next decision. */
  reconcileNext(): void;
  /** A failover or switchover completed (status and metrics). */
  completed(completed: CompletedFailover): void;
}

/** Only the lease holder acts: NotLeaderError naming the holder otherwise. */
export const requireLease = async (ctx: ResourceContext): Promise<void> => {
  if (!ctx.lease.isLeader()) throw new NotLeaderError(ctx.resource, (await ctx.lease.holder().catch(() => null))?.holder ?? null);
};

export const memberEndpoint = (ctx: ResourceContext, name: string): MemberEndpoint => {
  const endpoint = ctx.deps.settings.members.find((m) => m.name === name);
  if (!endpoint) throw new UnknownMemberError(ctx.resource, name);
  return endpoint;
};

/** The route record for the state as folded: who is primary at which epoch, who is fenced. */
export const routeRecord = (ctx: ResourceContext, failoverId: string | null): RouteRecord => {
  const state = ctx.state();
  const primary = memberEndpoint(ctx, state.primary);
  const url = new URL(primary.connection);
  return {
    resource: ctx.resource,
    primary: primary.name,
    url: redactConnection(primary.connection),
    host: url.hostname,
    port: Number(url.port || 5432),
    epoch: state.epoch,
    failoverId,
    updatedAt: new Date().toISOString(),
    updatedBy: ctx.deps.instanceId,
    fenced: Object.values(state.fenced).map((f) => ({ member: f.member, formerEpoch: f.formerEpoch, cause: f.cause, fencedAt: iso(f.fencedAt)! })),
  };
};

/** A route record (read at start or seen through the watch) as the fact the state folds. */
export const routeAdopted = (record: RouteRecord): FailoverEvent => ({
  type: 'RouteAdopted',
  epoch: record.epoch,
  primary: record.primary,
  fenced: record.fenced,
  at: Date.parse(record.updatedAt),
});
