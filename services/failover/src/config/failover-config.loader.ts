import { ConfigFileError, ConfigProblem, parseYamlConfig, readConfigFile, zodProblems } from '@continuity/runtime';
import type { z } from 'zod';
import {
  FailoverConfig,
  InvalidFailoverConfigError,
  MemberRole,
  resolveFailoverConfig,
} from './failover-config.policy.js';
import { FailoverSectionSchema } from './failover-config.schema.js';

export type { ConfigProblem };

/** The `failover:` section is unreadable or wrong. Lists every problem with its key. */
export class FailoverConfigError extends ConfigFileError {
  override readonly name = 'FailoverConfigError';
  override readonly code = 'FAILOVER.CONFIG_INVALID';
}
const fail = (file: string, problems: ConfigProblem[]) => new FailoverConfigError(file, problems);

export interface MemberEndpoint {
  readonly name: string;
  readonly role: MemberRole;
  /** Contains credentials: never log or publish it (see `redactConnection`). */
  readonly connection: string;
  readonly replicationConnection: string | null;
  /** Run before promoting another member in its place when it is the primary that failed. */
  readonly fence: FenceCommand | null;
}

export interface FenceCommand {
  /** argv; run without a shell. May carry secrets: published and logged only through `redactSecrets`. */
  readonly command: readonly string[];
  readonly timeoutMs: number;
  readonly required: boolean;
}

/** One protected resource: the decider's configuration plus what the adapters need. */
export interface ResourceFailover {
  readonly resource: string;
  readonly decider: FailoverConfig;
  readonly members: readonly MemberEndpoint[];
  readonly probeTimeoutMs: number;
  readonly promoteTimeoutMs: number;
  readonly switchoverTimeoutMs: number;
}

export interface FailoverSettings {
  /** Null when no file is configured: the service then watches nothing (and says so). */
  readonly file: string | null;
  readonly leaseTtlMs: number;
  readonly resources: readonly ResourceFailover[];
}

export const NO_FAILOVER_CONFIG: FailoverSettings = { file: null, leaseTtlMs: 3_000, resources: [] };

export const loadFailoverConfig = async (file: string): Promise<FailoverSettings> => {
  const { path, text } = await readConfigFile(file, fail);
  return parseFailoverConfig(path, text);
};

/** Parses the whole file but reads only its `failover:` section (the other services own the rest). */
export const parseFailoverConfig = (file: string, text: string): FailoverSettings => {
  const yaml = parseYamlConfig(file, text, fail);
  const inSection = (path: readonly PropertyKey[]) => ['failover', ...path];
  const problem = (path: readonly PropertyKey[], message: string): ConfigProblem => yaml.problem(inSection(path), message);

  const root = yaml.raw;
  if (typeof root !== 'object' || root === null || Array.isArray(root)) {
    throw fail(file, [{ key: '(root)', message: 'must be a mapping of sections (failover:, resources:, …)' }]);
  }
  const section = (root as Record<string, unknown>).failover;
  if (section === undefined || section === null) return { ...NO_FAILOVER_CONFIG, file };

  const parsed = FailoverSectionSchema.safeParse(section);
  if (!parsed.success) {
    throw fail(
      file,
      zodProblems(parsed.error.issues, yaml, {
        at: inSection,
        describe: describeIssue,
        unknownKey: (path) => `unknown key (allowed here: ${allowedKeys(path).join(', ')})`,
      }),
    );
  }

  const problems: ConfigProblem[] = [];
  const resources: ResourceFailover[] = [];
  for (const [resource, input] of Object.entries(parsed.data.resources)) {
    const at = ['resources', resource];
    let decider: FailoverConfig;
    try {
      decider = resolveFailoverConfig({
        resource,
        members: input.members.map((m) => ({ name: m.name, role: m.role })),
        probeIntervalMs: input.probeIntervalMs,
        failuresBeforeFailover: input.failuresBeforeFailover,
        maxLagBytes: input.maxLagBytes,
        mode: input.mode,
        synchronous: input.synchronous,
        relaxSynchronousAfterMs: input.relaxSynchronousAfterMs,
      });
    } catch (error) {
      if (!(error instanceof InvalidFailoverConfigError)) throw error;
      problems.push(...error.problems.map((p) => problem([...at, 'members'], p)));
      continue;
    }
    const probeTimeoutMs = input.probeTimeoutMs ?? Math.max(1, Math.floor(input.probeIntervalMs * 0.8));
    if (probeTimeoutMs > input.probeIntervalMs) {
      problems.push(problem([...at, 'probeTimeoutMs'], `must not exceed probeIntervalMs (${input.probeIntervalMs}): probes of one round must end before the next`));
    }
    const endpoints = input.members.map((m) => `${safeUrl(m.connection)?.host ?? m.connection}`);
    endpoints.forEach((endpoint, i) => {
      if (endpoints.indexOf(endpoint) !== i) problems.push(problem([...at, 'members', i, 'connection'], `same host and port as ${input.members[endpoints.indexOf(endpoint)]!.name}`));
    });
    resources.push({
      resource,
      decider,
      members: input.members.map((m) => ({ name: m.name, role: m.role, connection: m.connection, replicationConnection: m.replicationConnection ?? null, fence: m.fence ?? null })),
      probeTimeoutMs,
      promoteTimeoutMs: input.promoteTimeoutMs,
      switchoverTimeoutMs: input.switchoverTimeoutMs,
    });
  }
  if (problems.length) throw new FailoverConfigError(file, problems);
  return { file, leaseTtlMs: parsed.data.leaseTtlMs, resources };
};

const safeUrl = (value: string): URL | null => {
  try {
    return new URL(value);
  } catch {
    return null;
  }
};

/** `postgres://u:secret@h:5432/db?x` → `postgres://u@h:5432/db`: what may appear in logs, events and routes. */
export const redactConnection = (connection: string): string => {
  const url = safeUrl(connection);
  if (!url) return '(unparseable connection)';
  url.password = '';
  url.search = '';
  return url.toString();
};

const ALLOWED: Record<string, string[]> = {
  section: ['leaseTtlMs', 'resources'],
  resource: ['members', 'maxLagBytes', 'mode', 'probeIntervalMs', 'failuresBeforeFailover', 'probeTimeoutMs', 'promoteTimeoutMs', 'switchoverTimeoutMs', 'synchronous', 'relaxSynchronousAfterMs'],
  member: ['name', 'connection', 'role', 'replicationConnection', 'fence'],
  fence: ['command', 'timeoutMs', 'required'],
};

const allowedKeys = (path: readonly PropertyKey[]): string[] => {
  if (path.length === 0) return ALLOWED.section!;
  if (path.length === 2) return ALLOWED.resource!;
  if (path[path.length - 1] === 'fence') return ALLOWED.fence!;
  return ALLOWED.member!;
};

const describeIssue = (issue: z.core.$ZodIssue): string => {
  if (issue.code === 'invalid_key') return issue.issues.map((i) => i.message).join('; ');
  if (issue.code === 'invalid_type' && /received undefined/.test(issue.message)) return `is required (${issue.message.replace(/^Invalid input: /, '')})`;
  return issue.message;
};
