import { lstat, realpath } from 'node:fs/promises';
import { basename, dirname, isAbsolute, join } from 'node:path';
import { redactSecrets } from '@continuity/runtime/standalone';
import type { ResourceConfig } from '../config/backup-config.schema.js';
import { RestoreError, RestoreTargetNotAllowedError } from './restore.errors.js';
import { isInside, parsePostgresEndpoint, POSTGRES_URL, postgresRuleMatches, postgresUrlOf } from '../config/restore-targets.policy.js';

export type TargetKind = 'postgres' | 'directory';

export interface AllowedTarget {
  kind: TargetKind;
  /** What the restore uses: the real path of a directory, the URL rebuilt from what was matched. */
  to: string;
  /** For messages, events and logs. */
  redacted: string;
  allowedBy: 'configuration' | 'allow-any-target';
}

/**
 * The real path `path` names: `realpath` of its nearest existing ancestor, then the components
 * that do not exist yet. `..` and symbolic links in the existing part are resolved by the kernel
 * (so they cannot lead out of an allowed directory unnoticed); the part that does not exist yet
 * may hold neither `..` nor a dangling symbolic link (which `mkdir` would follow).
 */
export const resolveRealPath = async (path: string): Promise<string> => {
  const missing: string[] = [];
  let current = path;
  for (;;) {
    try {
      return join(await realpath(current), ...missing);
    } catch (error) {
      const code = (error as NodeJS.ErrnoException).code;
      if (code !== 'ENOENT') throw error;
      if (await lstat(current).catch(() => null)) throw new Error(`${current} is a symbolic link to nothing`);
      const name = basename(current);
      if (name === '..' || name === '.') throw new Error(`"${name}" after ${dirname(current)}, which does not exist`);
      const parent = dirname(current);
      if (parent === current) throw error;
      missing.unshift(name);
      current = parent;
    }
  }
};

/**
 * Decides whether a restore of `resourceName` may go to `to`, before anything is read or written:
 * throws `RestoreTargetNotAllowedError` (403) unless the target matches the resource's
 * `restoreTargets` (see `restore-targets.policy.ts`), or `anyTarget` (the CLI's explicit
 * `--allow-any-target`) is set.
 */
export const allowRestoreTarget = async (
  resourceName: string,
  resource: ResourceConfig | undefined,
  kind: TargetKind,
  to: string,
  options: { anyTarget?: boolean } = {},
): Promise<AllowedTarget> => {
  const redacted = redactSecrets(to);
  if (kind === 'postgres' && !POSTGRES_URL.test(to)) throw new RestoreError('RESTORE.WRONG_TARGET', `${resourceName} is a PostgreSQL database: restore it to a postgres:// URL, not ${redacted}`, { status: 400 });
  if (kind === 'directory' && (POSTGRES_URL.test(to) || !isAbsolute(to))) {
    const what = resource?.kind === 'postgres' ? `${resourceName}'s base backup restores into a data directory` : `${resourceName} is a directory`;
    throw new RestoreError('RESTORE.WRONG_TARGET', `${what}: restore it to an absolute directory path, not ${redacted}`, { status: 400 });
  }
  if (options.anyTarget) return { kind, to, redacted, allowedBy: 'allow-any-target' };

  // A PostgreSQL resource lists databases (dump restores) and data directories (base backups): each restore looks at its own kind's.
  const allowed = (resource?.restoreTargets ?? []).filter((rule) => (kind === 'postgres' ? POSTGRES_URL.test(rule) : isAbsolute(rule)));
  const refuse = (why: string | null): never => {
    throw new RestoreTargetNotAllowedError(resourceName, redacted, allowed, why);
  };
  if (!allowed.length) refuse(null);
  if (kind === 'postgres') {
    const target = parsePostgresEndpoint(to);
    if ('error' in target) return refuse(`the target ${target.error}`);
    const matched = allowed.some((rule) => {
      const parsed = parsePostgresEndpoint(rule, { rule: true });
      return !('error' in parsed) && postgresRuleMatches(parsed, target);
    });
    if (!matched) refuse(null);
    const rebuilt = postgresUrlOf(target);
    return { kind, to: rebuilt, redacted: redactSecrets(rebuilt), allowedBy: 'configuration' };
  }
  let real: string;
  try {
    real = await resolveRealPath(to);
  } catch (error) {
    return refuse(`cannot resolve it: ${(error as Error).message}`);
  }
  const roots = await Promise.all(allowed.map((root) => resolveRealPath(root).catch(() => null)));
  if (!roots.some((root) => root !== null && isInside(root, real))) refuse(real === to ? null : `it resolves to ${real}`);
  return { kind, to: real, redacted: real, allowedBy: 'configuration' };
};
