import { z } from 'zod';
import { DomainError } from '@continuity/contracts';
import { parseRequest } from '@continuity/runtime';

// One code for every bad query or path parameter of the audit API, as before the shared helper.
const INVALID_PARAMETER = 'REQUEST.INVALID_PARAMETER';

/** Validates query parameters; a 400 names every bad parameter. */
export const parseQuery = <S extends z.ZodType>(schema: S, query: unknown): z.infer<S> => parseRequest(schema, query, { part: 'query', code: INVALID_PARAMETER });

/** Validates path parameters; a 400 names every bad parameter. */
export const parsePath = <S extends z.ZodType>(schema: S, params: unknown): z.infer<S> => parseRequest(schema, params, { part: 'params', code: INVALID_PARAMETER });

export const isoTime = z.iso.datetime({ offset: true, message: 'must be an ISO-8601 time, e.g. 2026-11-26T10:00:00Z' }).transform((s) => new Date(s));
export const nonNegativeInt = z.coerce.number({ message: 'must be a number' }).int('must be a whole number').min(0, 'must be ≥ 0');
export const positiveInt = z.coerce.number({ message: 'must be a number' }).int('must be a whole number').min(1, 'must be ≥ 1');

/**
 * A request for more than one response may hold (entries, heads, days): 400 naming the limit, so
 * no request can make the service build an unbounded answer in memory.
 */
export class RangeTooLargeError extends DomainError {
  constructor(what: string, limit: number, unit: string, hint: string) {
    super('REQUEST.RANGE_TOO_LARGE', `${what}: at most ${limit} ${unit} per request; ${hint}`, 400, { limit });
  }
}
