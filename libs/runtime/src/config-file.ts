import { readFile } from 'node:fs/promises';
import { isAbsolute, resolve } from 'node:path';
import { isNode, LineCounter, parseDocument } from 'yaml';
import type { z } from 'zod';

/** One thing wrong in a configuration file, where it is. */
export interface ConfigProblem {
  /** Dotted key, e.g. `policies.orders-nightly.copies.1`; `(file)`, `(yaml)` or `(root)` otherwise. */
  key: string;
  message: string;
  line?: number;
}

/**
 * A configuration file that cannot be used; lists every problem with its key and line. Each service
 * subclasses it with its own name and code.
 */
export class ConfigFileError extends Error {
  override readonly name: string = 'ConfigFileError';
  readonly code: string = 'CONFIG.FILE_INVALID';
  constructor(
    readonly file: string,
    readonly problems: ConfigProblem[],
  ) {
    super(`${file} is invalid:\n${problems.map((p) => `  ${p.key}${p.line ? ` (line ${p.line})` : ''}: ${p.message}`).join('\n')}`);
  }
}

type ErrorFactory = (file: string, problems: ConfigProblem[]) => Error;

/** Reads a configuration file (relative paths from the working directory). */
export const readConfigFile = async (file: string, fail: ErrorFactory): Promise<{ path: string; text: string }> => {
  const path = isAbsolute(file) ? file : resolve(file);
  try {
    return { path, text: await readFile(path, 'utf8') };
  } catch (error) {
    throw fail(path, [{ key: '(file)', message: `cannot be read: ${(error as Error).message}` }]);
  }
};

export interface YamlConfig {
  /** The document as plain data (`{}` when empty). */
  raw: unknown;
  /** A problem at `path`, with the line of the nearest node that exists. */
  problem(path: readonly PropertyKey[], message: string): ConfigProblem;
}

/** Parses YAML keeping line numbers, so that every problem can say where it is. Duplicate keys are errors. */
export const parseYamlConfig = (file: string, text: string, fail: ErrorFactory): YamlConfig => {
  const lineCounter = new LineCounter();
  const doc = parseDocument(text, { lineCounter, prettyErrors: false, uniqueKeys: true });
  if (doc.errors.length) {
    throw fail(file, doc.errors.map((e) => ({ key: '(yaml)', message: e.message.split('\n')[0]!, line: lineCounter.linePos(e.pos[0]).line })));
  }
  const lineOf = (path: readonly PropertyKey[]): number | undefined => {
    for (let n = path.length; n >= 0; n--) {
      const node = doc.getIn(path.slice(0, n).map((p) => (typeof p === 'number' ? p : String(p))), true);
      if (isNode(node) && node.range) return lineCounter.linePos(node.range[0]).line;
    }
    return undefined;
  };
  return {
    raw: doc.toJS() ?? {},
    problem: (path, message) => ({ key: path.map(String).join('.') || '(root)', message, line: lineOf(path) }),
  };
};

/**
 * Zod issues as problems: one per unknown key (a typo must not pass silently), one per other issue.
 * `at` maps a schema path to the file's path (e.g. under a `failover:` section).
 */
export const zodProblems = (
  issues: readonly z.core.$ZodIssue[],
  config: YamlConfig,
  options: {
    at?: (path: readonly PropertyKey[]) => readonly PropertyKey[];
    describe?: (issue: z.core.$ZodIssue) => string;
    unknownKey?: (path: readonly PropertyKey[]) => string;
  } = {},
): ConfigProblem[] => {
  const at = options.at ?? ((path) => path);
  return issues.flatMap((issue) =>
    issue.code === 'unrecognized_keys'
      ? issue.keys.map((key) => config.problem(at([...issue.path, key]), options.unknownKey?.(issue.path) ?? 'unknown key'))
      : [config.problem(at(issue.path), options.describe?.(issue) ?? issue.message)],
  );
};
