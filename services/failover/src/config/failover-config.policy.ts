import { DomainError } from '@continuity/contracts';

/*
 * What a resource's failover configuration must satisfy to work, and its defaults: the rules the
 * decider relies on, checked once at start-up. Pure: the loader reads and parses the file.
 */

export type MemberRole = 'primary' | 'standby';
export type FailoverMode = 'automatic' | 'manual';

export interface MemberConfig {
  readonly name: string;
  /** Role at start-up only; after a failover, the state says who is primary. */
  readonly role: MemberRole;
}

export interface FailoverConfigInput {
  readonly resource: string;
  readonly members: readonly MemberConfig[];
  /** Default 500. */
  readonly probeIntervalMs?: number;
  /** Consecutive failed probes of the primary before it is judged failed. Default 3. */
  readonly failuresBeforeFailover?: number;
  /** A standby whose latest probe is older than this is not promoted. Default 3 × probeIntervalMs. */
  readonly staleAfterMs?: number;
  /** Most WAL a standby may miss (primary's last known LSN − standby's receive LSN) and still be promoted: the bound on data lost. */
  readonly maxLagBytes: number;
  readonly mode: FailoverMode;
  /**
   * Zero-loss mode (Patroni's synchronous mode): the primary's commits wait for one named standby
   * (`synchronous_standby_names`), and only that standby is promoted. Default false.
   */
  readonly synchronous?: boolean;
  /**
   * How long commits may block with no standby able to acknowledge them before synchronous
   * replication is relaxed (writes go on, announced). Default failuresBeforeFailover × probeIntervalMs:
   * the same patience as for a failing primary, so a standby's restart does not drop the guarantee.
   */
  readonly relaxSynchronousAfterMs?: number;
}

export type FailoverConfig = Required<FailoverConfigInput>;

export const DEFAULT_PROBE_INTERVAL_MS = 500;
export const DEFAULT_FAILURES_BEFORE_FAILOVER = 3;
/** PostgreSQL's NAMEDATALEN - 1: a standby's application_name (its member name) is cut beyond this. */
export const MAX_APPLICATION_NAME = 63;

/** A configuration that cannot work; lists every problem, not just the first. */
export class InvalidFailoverConfigError extends DomainError {
  constructor(
    readonly resource: string,
    readonly problems: string[],
  ) {
    super('FAILOVER.INVALID_CONFIG', `failover config for ${JSON.stringify(resource)} is invalid: ${problems.join('; ')}`);
  }
}

/** Applies the defaults and checks the configuration once, at start-up. */
export function resolveFailoverConfig(input: FailoverConfigInput): FailoverConfig {
  const probeIntervalMs = input.probeIntervalMs ?? DEFAULT_PROBE_INTERVAL_MS;
  const failuresBeforeFailover = input.failuresBeforeFailover ?? DEFAULT_FAILURES_BEFORE_FAILOVER;
  const config: FailoverConfig = {
    resource: input.resource,
    members: input.members,
    probeIntervalMs,
    failuresBeforeFailover,
    staleAfterMs: input.staleAfterMs ?? 3 * probeIntervalMs,
    maxLagBytes: input.maxLagBytes,
    mode: input.mode,
    synchronous: input.synchronous ?? false,
    relaxSynchronousAfterMs: input.relaxSynchronousAfterMs ?? failuresBeforeFailover * probeIntervalMs,
  };
  const problems: string[] = [];
  if (!config.resource) problems.push('resource is empty');
  const names = config.members.map((m) => m.name);
  if (names.some((n) => !n)) problems.push('a member has an empty name');
  const duplicates = [...new Set(names.filter((n, i) => names.indexOf(n) !== i))];
  if (duplicates.length) problems.push(`duplicate member names: ${duplicates.join(', ')}`);
  const primaries = config.members.filter((m) => m.role === 'primary').length;
  if (primaries !== 1) problems.push(`exactly one member must have role 'primary' (found ${primaries})`);
  if (!config.members.some((m) => m.role === 'standby')) problems.push('no standby to fail over to');
  if (!(config.probeIntervalMs > 0)) problems.push(`probeIntervalMs must be > 0 (got ${config.probeIntervalMs})`);
  if (!Number.isInteger(config.failuresBeforeFailover) || config.failuresBeforeFailover < 1)
    problems.push(`failuresBeforeFailover must be an integer ≥ 1 (got ${config.failuresBeforeFailover})`);
  if (!(config.staleAfterMs > 0)) problems.push(`staleAfterMs must be > 0 (got ${config.staleAfterMs})`);
  if (!Number.isSafeInteger(config.maxLagBytes) || config.maxLagBytes < 0)
    problems.push(`maxLagBytes must be an integer ≥ 0 (got ${config.maxLagBytes})`);
  if (config.mode !== 'automatic' && config.mode !== 'manual')
    problems.push(`mode must be 'automatic' or 'manual' (got ${String(config.mode)})`);
  if (!Number.isSafeInteger(config.relaxSynchronousAfterMs) || config.relaxSynchronousAfterMs < 0)
    problems.push(`relaxSynchronousAfterMs must be an integer ≥ 0 (got ${config.relaxSynchronousAfterMs})`);
  if (config.synchronous) {
    // The primary knows its standbys only by application_name, which is the member name (see README).
    const long = names.filter((n) => n.length > MAX_APPLICATION_NAME);
    if (long.length)
      problems.push(`synchronous: member names are the standbys' application_name, at most ${MAX_APPLICATION_NAME} characters (too long: ${long.join(', ')})`);
  }
  if (problems.length) throw new InvalidFailoverConfigError(config.resource, problems);
  return config;
}
