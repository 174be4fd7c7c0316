import { ConfigFileError, ConfigProblem, parseYamlConfig, readConfigFile, zodProblems } from '@continuity/runtime/standalone';
import type { z } from 'zod';
import {
  BackupConfigFileSchema,
  LocationConfig,
  PolicyConfig,
  ResourceConfig,
} from './backup-config.schema.js';
import { parseSchedule, Schedule } from './schedule.js';
import type { DrillConfig } from './drill-config.schema.js';
import { checkThreeTwoOne, describeFailedRules, FailedRule } from './three-two-one.policy.js';
import { AgeKey, ArtifactFormat, KeyFileError, loadAgeKey } from '@continuity/artifacts';

export type { ConfigProblem };

/** The configuration file is unreadable or wrong. Lists every problem with its key. */
export class BackupConfigError extends ConfigFileError {
  override readonly name = 'BackupConfigError';
  override readonly code = 'BACKUP.CONFIG_INVALID';
}
const fail = (file: string, problems: ConfigProblem[]) => new BackupConfigError(file, problems);

export interface ResolvedPolicy {
  name: string;
  resourceName: string;
  resource: ResourceConfig;
  /** The artifact it makes: `pg_dump-custom` or `basebackup` for PostgreSQL, `tar` for a directory. */
  method: ArtifactFormat;
  /** Base backups: where they are compressed (PostgreSQL 15+ by default, else this service). */
  compression: 'server' | 'service';
  schedule: Schedule | null;
  copies: { name: string; location: LocationConfig }[];
  retention: PolicyConfig['retention'] | null;
  encryption: AgeKey | null;
  /** Empty when the policy meets 3-2-1. */
  threeTwoOneFailures: FailedRule[];
  /** Set when the policy opted out of 3-2-1; every backup carries it. */
  threeTwoOneOptOut: string | null;
  /** The continuous WAL archive, when the policy enables it (PostgreSQL only). */
  wal: { walShipIntervalMs: number; partialVersionGraceMs: number; restorePointIntervalMs: number; synchronous: boolean; setSynchronousStandbyNames: boolean; followPrimary: boolean } | null;
}

export interface BackupConfig {
  file: string | null;
  resources: Map<string, ResourceConfig>;
  locations: Map<string, LocationConfig>;
  policies: Map<string, ResolvedPolicy>;
  /** `drills:` per resource (recovery drills). */
  drills: Map<string, ResolvedDrill>;
}

export interface ResolvedDrill extends Omit<DrillConfig, 'schedule'> {
  resourceName: string;
  schedule: Schedule | null;
}

export const emptyConfig = (): BackupConfig => ({ file: null, resources: new Map(), locations: new Map(), policies: new Map(), drills: new Map() });

/** Reads, validates and cross-checks the configuration file; throws `BackupConfigError`. */
export const loadBackupConfig = async (file: string): Promise<BackupConfig> => {
  const { path, text } = await readConfigFile(file, fail);
  return parseBackupConfig(path, text);
};

export const parseBackupConfig = async (file: string, text: string): Promise<BackupConfig> => {
  const yaml = parseYamlConfig(file, text, fail);
  const { problem } = yaml;
  const parsed = BackupConfigFileSchema.safeParse(yaml.raw);
  if (!parsed.success) {
    throw fail(
      file,
      zodProblems(parsed.error.issues, yaml, {
        describe: describeIssue,
        unknownKey: (path) => `unknown key (allowed here: ${allowedKeys(path).join(', ')})`,
      }),
    );
  }
  const { resources, locations, policies, drills } = parsed.data;

  const problems: ConfigProblem[] = [];
  const resolved = new Map<string, ResolvedPolicy>();
  const policyOfResource = new Map<string, string>();
  for (const [name, policy] of Object.entries(policies)) {
    const at = ['policies', name];
    const resource = resources[policy.resource];
    if (!resource) {
      problems.push(problem([...at, 'resource'], `unknown resource "${policy.resource}" (known: ${Object.keys(resources).join(', ') || 'none'})`));
    } else if (policyOfResource.has(policy.resource)) {
      problems.push(problem([...at, 'resource'], `resource "${policy.resource}" already has policy "${policyOfResource.get(policy.resource)}": one policy per resource`));
    } else {
      policyOfResource.set(policy.resource, name);
    }
    const copies: ResolvedPolicy['copies'] = [];
    policy.copies.forEach((locationName, i) => {
      const location = locations[locationName];
      if (!location) problems.push(problem([...at, 'copies', i], `unknown location "${locationName}" (known: ${Object.keys(locations).join(', ') || 'none'})`));
      else if (copies.some((c) => c.name === locationName)) problems.push(problem([...at, 'copies', i], `location "${locationName}" is listed twice`));
      else copies.push({ name: locationName, location });
    });
    let encryption: AgeKey | null = null;
    if (policy.encryption) {
      try {
        encryption = await loadAgeKey(policy.encryption.keyFile);
      } catch (error) {
        if (!(error instanceof KeyFileError)) throw error;
        problems.push(problem([...at, 'encryption', 'keyFile'], error.message));
      }
    }
    if (policy.method && resource && resource.kind !== 'postgres') {
      problems.push(problem([...at, 'method'], `"${policy.method}" backs up PostgreSQL; resource "${policy.resource}" is a ${resource.kind} (leave method out)`));
    }
    if (policy.compression && policy.method !== 'basebackup') {
      problems.push(problem([...at, 'compression'], 'says where a base backup is compressed: only with method: basebackup'));
    }
    if (policy.wal?.enabled && resource && resource.kind !== 'postgres') {
      problems.push(problem([...at, 'wal'], `a WAL archive streams PostgreSQL's WAL; resource "${policy.resource}" is a ${resource.kind} (leave wal out)`));
    }
    if (policy.wal?.setSynchronousStandbyNames && !policy.wal.synchronous) {
      problems.push(problem([...at, 'wal', 'setSynchronousStandbyNames'], 'only with synchronous: true (it makes commits wait for the archiver)'));
    }
    if (!resource || copies.length !== policy.copies.length) continue;
    const failures = checkThreeTwoOne(
      { name: policy.resource, site: resource.site },
      copies.map((c) => ({ location: c.name, site: c.location.site, medium: c.location.medium })),
    );
    const optOut = policy.threeTwoOne === 'required' ? null : policy.threeTwoOne.optOut;
    if (failures.length && !optOut) {
      problems.push(
        problem(
          [...at, 'copies'],
          `does not meet 3-2-1: ${describeFailedRules(failures)}. Add locations, or opt out with threeTwoOne: { optOut: "<why>" }`,
        ),
      );
    }
    resolved.set(name, {
      name,
      resourceName: policy.resource,
      resource,
      method: resource.kind === 'directory' ? 'tar' : policy.method === 'basebackup' ? 'basebackup' : 'pg_dump-custom',
      compression: policy.compression ?? 'server',
      schedule: policy.schedule ? (parseSchedule(policy.schedule) as { ok: true; schedule: Schedule }).schedule : null,
      copies,
      retention: policy.retention ?? null,
      encryption,
      threeTwoOneFailures: failures,
      threeTwoOneOptOut: optOut,
      wal: policy.wal?.enabled
        ? {
            walShipIntervalMs: policy.wal.walShipIntervalMs,
            partialVersionGraceMs: policy.wal.partialVersionGraceMs,
            restorePointIntervalMs: policy.wal.restorePointIntervalMs,
            synchronous: policy.wal.synchronous,
            setSynchronousStandbyNames: policy.wal.setSynchronousStandbyNames,
            followPrimary: policy.wal.followPrimary,
          }
        : null,
    });
  }
  const resolvedDrills = new Map<string, ResolvedDrill>();
  for (const [resourceName, drill] of Object.entries(drills)) {
    const at = ['drills', resourceName];
    const resource = resources[resourceName];
    if (!resource) {
      problems.push(problem(at, `unknown resource "${resourceName}" (known: ${Object.keys(resources).join(', ') || 'none'})`));
      continue;
    }
    if (!policyOfResource.has(resourceName) && drill.kind !== 'failover') problems.push(problem(at, `resource "${resourceName}" has no policy: there is no backup to restore in a drill`));
    if (resource.kind === 'postgres' && drill.scratch.startsWith('/')) problems.push(problem([...at, 'scratch'], 'a PostgreSQL resource is restored into a scratch database: postgres://[user@]host[:port]/<database prefix>'));
    if (resource.kind === 'directory' && !drill.scratch.startsWith('/')) problems.push(problem([...at, 'scratch'], 'a directory resource is restored into a scratch directory: an absolute path'));
    if (drill.failover && resource.kind !== 'postgres') problems.push(problem([...at, 'failover'], 'failover drills switch over a replicated PostgreSQL resource'));
    resolvedDrills.set(resourceName, { ...drill, resourceName, schedule: drill.schedule ? (parseSchedule(drill.schedule) as { ok: true; schedule: Schedule }).schedule : null });
  }
  if (problems.length) throw new BackupConfigError(file, problems);
  return {
    drills: resolvedDrills,
    file,
    resources: new Map(Object.entries(resources)),
    locations: new Map(Object.entries(locations)),
    policies: resolved,
  };
};

const ALLOWED: Record<string, string[]> = {
  root: ['resources', 'locations', 'policies', 'drills', 'failover', 'verifier'],
  drills: ['kind', 'schedule', 'scratch', 'targets', 'assertions', 'stepTimeoutMs', 'failover'],
  resources: ['kind', 'site', 'restoreTargets', 'connection', 'database (postgres)', 'path', 'include', 'exclude (directory)'],
  locations: ['kind', 'site', 'medium', 'path (filesystem)', 'bucket', 'natsUrl', 'replicas (object-store)'],
  policies: ['resource', 'method', 'schedule', 'copies', 'retention', 'encryption', 'wal', 'threeTwoOne'],
  retention: ['keepLast', 'daily', 'weekly', 'monthly'],
  encryption: ['keyFile'],
  threeTwoOne: ['optOut'],
};

const allowedKeys = (path: readonly PropertyKey[]): string[] => {
  if (path.length === 0) return ALLOWED.root!;
  if (path.length === 2) return ALLOWED[String(path[0])] ?? [];
  return ALLOWED[String(path[path.length - 1])] ?? [];
};

const describeIssue = (issue: z.core.$ZodIssue): string => {
  if (issue.code === 'invalid_type' && /received undefined/.test(issue.message)) return `is required (${issue.message.replace(/^Invalid input: /, '')})`;
  return issue.message;
};

/** The policy that protects `resource`, if any. */
export const policyForResource = (config: BackupConfig, resource: string): ResolvedPolicy | undefined =>
  [...config.policies.values()].find((p) => p.resourceName === resource);
