import { ConfigFileError, ConfigProblem, parseYamlConfig, readConfigFile, zodProblems } from '@continuity/runtime';
import { z } from 'zod';
import { RESOURCE_PATTERN } from '@continuity/contracts';
import { AgeIdentity, KeyFileError, loadIdentities } from '@continuity/artifacts';

/**
 * The verifier's YAML file (`VERIFIER_CONFIG`):
 *
 * ```yaml
 * keys: [/etc/continuity/orders.agekey]         # age identities: encrypted backups to their recipients can be test-restored
 * resources:
 *   orders-db:
 *     restoreTest: true                         # default true
 *     assertions:                               # run in the scratch database after the restore; each must return true
 *       - select count(*) > 0 from orders
 *       - { name: no orphan orders, sql: "select count(*) = 0 from orders o left join customers c on c.id = o.customer_id where c.id is null" }
 * objectStores:                                 # buckets held by another NATS than NATS_URL
 *   continuity-offsite: { natsUrl: "nats://dr-site:4222" }
 * fileRoots: [/var/backups, /mnt/nas]           # file:// copies are read only under these (VERIFIER_FILE_ROOTS wins)
 * ```
 *
 * Unknown keys are errors (a typo must not silently drop an assertion); every problem names the
 * key and its line.
 */
const name = z.string().regex(RESOURCE_PATTERN, 'must be 1-128 letters, digits, "_" or "-", starting with a letter or digit');
const absolutePath = z.string().min(1, 'must be a path').refine((p) => p.startsWith('/'), 'must be an absolute path');

const AssertionSchema = z.union(
  [z.string().min(1, 'must be an SQL query returning one boolean'), z.strictObject({ name: z.string().min(1).optional(), sql: z.string().min(1, 'must be an SQL query returning one boolean') })],
  { error: 'must be an SQL query (text) or { name, sql }' },
);

const ResourceSchema = z.strictObject({
  restoreTest: z.boolean().default(true),
  assertions: z.array(AssertionSchema).default([]),
});

export const VerifierConfigFileSchema = z.strictObject({
  keys: z.array(absolutePath).default([]),
  resources: z.record(name, ResourceSchema).default({}),
  objectStores: z
    .record(z.string().regex(/^[A-Za-z0-9_-]+$/, 'must be a bucket name (letters, digits, "_" or "-")'), z.strictObject({ natsUrl: z.string().min(1, 'must be one or more nats:// URLs') }))
    .default({}),
  fileRoots: z.array(absolutePath).optional(),
});

export interface SqlAssertion {
  /** What the verdict calls it: the given name, else the query itself. */
  name: string;
  sql: string;
}

export interface ResourceOptions {
  restoreTest: boolean;
  assertions: SqlAssertion[];
}

export interface VerifierConfig {
  files: string[];
  keys: AgeIdentity[];
  resources: Map<string, ResourceOptions>;
  /** bucket → NATS servers holding it (buckets not listed are on NATS_URL). */
  objectStores: Map<string, string>;
  /**
   * Folders under which `file://` copies may be read: the file's `fileRoots`, else the backup policy
   * file's filesystem locations; null when neither names any (then `file://` copies are refused).
   */
  fileRoots: string[] | null;
  /** Things worth a log line (e.g. a backup policy's key file that holds recipients only). */
  notes: string[];
}

export const emptyVerifierConfig = (): VerifierConfig => ({ files: [], keys: [], resources: new Map(), objectStores: new Map(), fileRoots: null, notes: [] });

export const resourceOptions = (config: VerifierConfig, resource: string): ResourceOptions =>
  config.resources.get(resource) ?? { restoreTest: true, assertions: [] };

export type { ConfigProblem };

export class VerifierConfigError extends ConfigFileError {
  override readonly name = 'VerifierConfigError';
  override readonly code = 'VERIFY.CONFIG_INVALID';
}
const fail = (file: string, problems: ConfigProblem[]) => new VerifierConfigError(file, problems);
const readYaml = (file: string) => readConfigFile(file, fail);
const parseYaml = (file: string, text: string) => parseYamlConfig(file, text, fail);

export const parseVerifierConfig = async (file: string, text: string): Promise<VerifierConfig> => {
  const yaml = parseYaml(file, text);
  const { problem } = yaml;
  const parsed = VerifierConfigFileSchema.safeParse(yaml.raw);
  if (!parsed.success) throw fail(file, zodProblems(parsed.error.issues, yaml));
  const problems: ConfigProblem[] = [];
  const keys: AgeIdentity[] = [];
  const notes: string[] = [];
  for (const [i, keyFile] of parsed.data.keys.entries()) {
    try {
      const identities = await loadIdentities(keyFile);
      if (!identities.length) notes.push(`${file}: keys.${i} (${keyFile}) holds no identity (AGE-SECRET-KEY-1…): it cannot decrypt anything`);
      keys.push(...identities);
    } catch (error) {
      if (!(error instanceof KeyFileError)) throw error;
      problems.push(problem(['keys', i], error.message));
    }
  }
  if (problems.length) throw new VerifierConfigError(file, problems);
  const resources = new Map<string, ResourceOptions>();
  for (const [resource, options] of Object.entries(parsed.data.resources)) {
    resources.set(resource, {
      restoreTest: options.restoreTest,
      assertions: options.assertions.map((a) => (typeof a === 'string' ? { name: a, sql: a } : { name: a.name ?? a.sql, sql: a.sql })),
    });
  }
  return {
    files: [file],
    keys,
    resources,
    objectStores: new Map(Object.entries(parsed.data.objectStores).map(([bucket, o]) => [bucket, o.natsUrl])),
    fileRoots: parsed.data.fileRoots ?? null,
    notes,
  };
};

/**
 * What the verifier takes from the backup service's policy file (read leniently: the backup
 * service validates it): every policy's `encryption.keyFile` (identities in it can decrypt; a
 * recipients-only file is noted, not an error), every object-store location's `natsUrl` and every
 * filesystem location's `path` (where the backup service writes `file://` copies).
 */
export const parseBackupPolicyFile = async (file: string, text: string): Promise<Pick<VerifierConfig, 'keys' | 'objectStores' | 'notes'> & { fileRoots: string[] }> => {
  const { raw } = parseYaml(file, text);
  const doc = (raw ?? {}) as { policies?: Record<string, { encryption?: { keyFile?: unknown } }>; locations?: Record<string, { kind?: unknown; bucket?: unknown; natsUrl?: unknown; path?: unknown }> };
  const keys: AgeIdentity[] = [];
  const notes: string[] = [];
  const seen = new Set<string>();
  for (const [policy, body] of Object.entries(doc.policies ?? {})) {
    const keyFile = body?.encryption?.keyFile;
    if (typeof keyFile !== 'string' || seen.has(keyFile)) continue;
    seen.add(keyFile);
    try {
      const identities = await loadIdentities(keyFile);
      if (!identities.length) notes.push(`policy ${policy}: ${keyFile} holds recipients only; its backups are hash-checked but cannot be test-restored without an identity (add one under keys in VERIFIER_CONFIG)`);
      keys.push(...identities);
    } catch (error) {
      notes.push(`policy ${policy}: ${(error as Error).message}`);
    }
  }
  const objectStores = new Map<string, string>();
  const fileRoots: string[] = [];
  for (const location of Object.values(doc.locations ?? {})) {
    if (location?.kind === 'object-store' && typeof location.bucket === 'string' && typeof location.natsUrl === 'string') objectStores.set(location.bucket, location.natsUrl);
    if (location?.kind === 'filesystem' && typeof location.path === 'string' && location.path.startsWith('/')) fileRoots.push(location.path);
  }
  return { keys, objectStores, fileRoots, notes };
};

/** Loads `VERIFIER_CONFIG` and, when given, the backup policy file; throws `VerifierConfigError`. */
export const loadVerifierConfig = async (files: { verifierConfig?: string; backupConfig?: string }): Promise<VerifierConfig> => {
  const config = emptyVerifierConfig();
  if (files.verifierConfig) {
    const { path, text } = await readYaml(files.verifierConfig);
    Object.assign(config, await parseVerifierConfig(path, text));
  }
  if (files.backupConfig) {
    const { path, text } = await readYaml(files.backupConfig);
    const borrowed = await parseBackupPolicyFile(path, text);
    config.files.push(path);
    config.keys.push(...borrowed.keys.filter((k) => !config.keys.some((c) => c.identity === k.identity)));
    for (const [bucket, url] of borrowed.objectStores) if (!config.objectStores.has(bucket)) config.objectStores.set(bucket, url);
    if (config.fileRoots === null && borrowed.fileRoots.length) config.fileRoots = borrowed.fileRoots;
    config.notes.push(...borrowed.notes);
  }
  return config;
};
