import type { z } from 'zod';

export interface FieldIssue {
  /** Dotted path of the failing field, e.g. `data.copies.0.sha256`. */
  path: string;
  message: string;
}

/** An event that does not match its contract. Lists every failing field, not just the first. */
export class ContractViolationError extends Error {
  override readonly name = 'ContractViolationError';
  readonly code = 'CONTRACT.VIOLATION';

  constructor(
    readonly what: string,
    readonly issues: FieldIssue[],
  ) {
    super(`${what} is invalid: ${issues.map((i) => `${i.path || '(root)'}: ${i.message}`).join('; ')}`);
  }

  static fromZod(what: string, error: z.ZodError, prefix = ''): ContractViolationError {
    return new ContractViolationError(
      what,
      error.issues.map((issue) => ({
        path: [prefix, ...issue.path.map(String)].filter(Boolean).join('.'),
        message: issue.message,
      })),
    );
  }
}

/** No schema is registered for this (type, version): the consumer cannot understand the event. */
export class UnknownEventVersionError extends Error {
  override readonly name = 'UnknownEventVersionError';
  readonly code = 'CONTRACT.UNKNOWN_VERSION';

  constructor(
    readonly type: string,
    readonly version: number,
    readonly known: number[],
  ) {
    super(`no schema for ${type} v${version} (this build knows v${known.join(', v')})`);
  }
}
