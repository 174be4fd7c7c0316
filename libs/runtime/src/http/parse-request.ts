import type { z } from 'zod';
import { DomainError, FieldIssue } from '@continuity/contracts';

export type RequestPart = 'body' | 'query' | 'params';

/** A request whose body, query or path parameters do not match their schema: 400, every bad field named. */
export class RequestInvalidError extends DomainError {
  constructor(code: string, issues: FieldIssue[]) {
    super(code, issues.map((i) => `${i.path}: ${i.message}`).join('; '), 400, {}, { issues });
  }
}

const MAX_ECHO = 80;

/** The value the caller sent at `path`, as JSON and cut short, so a 400 says what was refused. */
const echo = (input: unknown, path: readonly PropertyKey[]): string | undefined => {
  let value = input;
  for (const key of path) {
    if (value === null || typeof value !== 'object') return undefined;
    value = (value as Record<PropertyKey, unknown>)[key];
  }
  if (value === undefined) return undefined;
  const json = JSON.stringify(value) ?? String(value);
  return json.length > MAX_ECHO ? `${json.slice(0, MAX_ECHO)}…` : json;
};

/**
 * Validates one part of a request and returns the parsed value, or throws `RequestInvalidError`
 * naming every problem: `limit: must be ≥ 1 (got "0"); colour: unknown parameter`. The one helper
 * every controller uses, so every service's 400 reads the same.
 */
export const parseRequest = <S extends z.ZodType>(schema: S, input: unknown, options: { part?: RequestPart; code?: string } = {}): z.infer<S> => {
  const part = options.part ?? 'body';
  const result = schema.safeParse(input ?? {});
  if (result.success) return result.data;
  const unknown = part === 'body' ? 'unknown field' : 'unknown parameter';
  const issues = result.error.issues.flatMap((issue): FieldIssue[] => {
    const path = issue.path.map(String).join('.');
    if (issue.code === 'unrecognized_keys') return issue.keys.map((key) => ({ path: [path, key].filter(Boolean).join('.'), message: unknown }));
    const got = echo(input, issue.path);
    return [{ path: path || `(${part})`, message: got === undefined ? issue.message : `${issue.message} (got ${got})` }];
  });
  throw new RequestInvalidError(options.code ?? 'REQUEST.INVALID', issues);
};
