import { readFile } from 'node:fs/promises';
import { isAbsolute, resolve } from 'node:path';
import { LineCounter, parseDocument, isNode } from 'yaml';
import type { z } from 'zod';
import {
  BackupConfigFileSchema,
  LocationConfig,
  PolicyConfig,
  ResourceConfig,
} from './backup-config.schema.js';
import { parseSchedule, Schedule } from './schedule.js';
import { checkThreeTwoOne, describeFailedRules, FailedRule } from './three-two-one.policy.js';
import { AgeKey, EncryptionKeyError, loadAgeKey } from '../backup-run/encryption.js';

export interface ConfigProblem {
  /** Dotted key, e.g. `policies.orders-nightly.copies.1`; `(file)` for the file itself. */
  key: string;
  message: string;
  line?: number;
}

/** The configuration file is unreadable or wrong. Lists every problem with its key. */
export class BackupConfigError extends Error {
  override readonly name = 'BackupConfigError';
  readonly code = 'BACKUP.CONFIG_INVALID';
  constructor(
    readonly file: string,
    readonly problems: ConfigProblem[],
  ) {
    super(`${file} is invalid:\n${problems.map((p) => `  ${p.key}${p.line ? ` (line ${p.line})` : ''}: ${p.message}`).join('\n')}`);
  }
}

export interface ResolvedPolicy {
  name: string;
  resourceName: string;
  resource: ResourceConfig;
  schedule: Schedule | null;
  copies: { name: string; location: LocationConfig }[];
  retention: PolicyConfig['retention'] | null;
  encryption: AgeKey | null;
  /** Empty when the policy meets 3-2-1. */
  threeTwoOneFailures: FailedRule[];
  /** Set when the policy opted out of 3-2-1; every backup carries it. */
  threeTwoOneOptOut: string | null;
}

export interface BackupConfig {
  file: string | null;
  resources: Map<string, ResourceConfig>;
  locations: Map<string, LocationConfig>;
  policies: Map<string, ResolvedPolicy>;
}

export const emptyConfig = (): BackupConfig => ({ file: null, resources: new Map(), locations: new Map(), policies: new Map() });

/** Reads, validates and cross-checks the configuration file; throws `BackupConfigError`. */
export const loadBackupConfig = async (file: string): Promise<BackupConfig> => {
  const path = isAbsolute(file) ? file : resolve(file);
  let text: string;
  try {
    text = await readFile(path, 'utf8');
  } catch (error) {
    throw new BackupConfigError(path, [{ key: '(file)', message: `cannot be read: ${(error as Error).message}` }]);
  }
  return parseBackupConfig(path, text);
};

export const parseBackupConfig = async (file: string, text: string): Promise<BackupConfig> => {
  const lineCounter = new LineCounter();
  const doc = parseDocument(text, { lineCounter, prettyErrors: false, uniqueKeys: true });
  if (doc.errors.length) {
    throw new BackupConfigError(
      file,
      doc.errors.map((e) => ({ key: '(yaml)', message: e.message.split('\n')[0]!, line: lineCounter.linePos(e.pos[0]).line })),
    );
  }
  const lineOf = (path: readonly PropertyKey[]): number | undefined => {
    for (let n = path.length; n >= 0; n--) {
      const node = doc.getIn(path.slice(0, n).map((p) => (typeof p === 'number' ? p : String(p))), true);
      if (isNode(node) && node.range) return lineCounter.linePos(node.range[0]).line;
    }
    return undefined;
  };
  const problem = (path: readonly PropertyKey[], message: string): ConfigProblem => ({
    key: path.map(String).join('.') || '(root)',
    message,
    line: lineOf(path),
  });

  const raw = doc.toJS() ?? {};
  const parsed = BackupConfigFileSchema.safeParse(raw);
  if (!parsed.success) {
    throw new BackupConfigError(
      file,
      parsed.error.issues.flatMap((i: z.core.$ZodIssue) =>
        i.code === 'unrecognized_keys'
          ? i.keys.map((key) => problem([...i.path, key], `unknown key (allowed here: ${allowedKeys(i.path).join(', ')})`))
          : [problem(i.path, describeIssue(i))],
      ),
    );
  }
  const { resources, locations, policies } = parsed.data;

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
        if (!(error instanceof EncryptionKeyError)) throw error;
        problems.push(problem([...at, 'encryption', 'keyFile'], error.message));
      }
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
      schedule: policy.schedule ? (parseSchedule(policy.schedule) as { ok: true; schedule: Schedule }).schedule : null,
      copies,
      retention: policy.retention ?? null,
      encryption,
      threeTwoOneFailures: failures,
      threeTwoOneOptOut: optOut,
    });
  }
  if (problems.length) throw new BackupConfigError(file, problems);
  return {
    file,
    resources: new Map(Object.entries(resources)),
    locations: new Map(Object.entries(locations)),
    policies: resolved,
  };
};

const ALLOWED: Record<string, string[]> = {
  root: ['resources', 'locations', 'policies', 'failover', 'verifier'],
  resources: ['kind', 'site', 'connection', 'database (postgres)', 'path', 'include', 'exclude (directory)'],
  locations: ['kind', 'site', 'medium', 'path (filesystem)', 'bucket', 'natsUrl', 'replicas (object-store)'],
  policies: ['resource', 'schedule', 'copies', 'retention', 'encryption', 'threeTwoOne'],
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
