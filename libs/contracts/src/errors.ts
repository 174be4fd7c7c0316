import type { z } from 'zod';

export interface FieldIssue {
  /** Dotted path of the failing field, e.g. `data.copies.0.sha256`. */
  path: string;
  message: string;
}

/**
 * The one base of every error a caller may be told about: a stable `code` (`BACKUP.NOT_FOUND`,
 * `FAILOVER.NOT_LEADER`, …) that clients and tests match on, the HTTP status it maps to, the bad
 * fields when there are any, and `details` (ids, links) that go into the HTTP body as they are.
 * The HTTP edge (`HttpErrorFilter` in `@continuity/runtime`) turns it into
 * `{ statusCode, code, message, issues?, ...details }`; nothing else needs to know HTTP.
 * Lives here, not in the runtime, so pure code (deciders, policies) can throw it without Nest.
 */
export class DomainError extends Error {
  constructor(
    readonly code: string,
    message: string,
    readonly status = 500,
    readonly details: Record<string, unknown> = {},
    options?: { cause?: unknown; issues?: FieldIssue[] },
  ) {
    super(message, options?.cause === undefined ? undefined : { cause: options.cause });
    this.name = new.target.name;
    if (options?.issues) this.issues = options.issues;
  }

  /** Every bad field (path + message) when the error is about input. */
  readonly issues?: FieldIssue[];
}

/** `FieldIssue`s from a zod error, one per problem (unknown keys one per key), paths dotted under `prefix`. */
export const issuesFromZod = (error: z.ZodError, prefix = ''): FieldIssue[] =>
  error.issues.flatMap((issue) => {
    const path = (key?: string) => [prefix, ...issue.path.map(String), key].filter(Boolean).join('.');
    return issue.code === 'unrecognized_keys' ? issue.keys.map((key) => ({ path: path(key), message: 'unknown field' })) : [{ path: path(), message: issue.message }];
  });

/** An event that does not match its contract. Lists every failing field, not just the first. */
export class ContractViolationError extends DomainError {
  override readonly issues: FieldIssue[];

  constructor(
    readonly what: string,
    issues: FieldIssue[],
  ) {
    super('CONTRACT.VIOLATION', `${what} is invalid: ${issues.map((i) => `${i.path || '(root)'}: ${i.message}`).join('; ')}`, 400, {}, { issues });
    this.issues = issues;
  }

  static fromZod(what: string, error: z.ZodError, prefix = ''): ContractViolationError {
    return new ContractViolationError(what, issuesFromZod(error, prefix));
  }
}

/** No schema is registered for this (type, version): the consumer cannot understand the event. */
export class UnknownEventVersionError extends DomainError {
  constructor(
    readonly type: string,
    readonly version: number,
    readonly known: number[],
  ) {
    super('CONTRACT.UNKNOWN_VERSION', `no schema for ${type} v${version} (this build knows v${known.join(', v')})`, 400);
  }
}
