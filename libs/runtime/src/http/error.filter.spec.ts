import { BadRequestException, NotFoundException, UnauthorizedException } from '@nestjs/common';
import { z } from 'zod';
import { DomainError } from '@continuity/contracts';
import { errorBody } from './error.filter.js';
import { parseRequest, RequestInvalidError } from './parse-request.js';

class BackupNotFound extends DomainError {
  constructor(id: string) {
    super('BACKUP.NOT_FOUND', `no backup ${id}`, 404, { backupId: id });
  }
}

describe('errorBody: one body for every error', () => {
  it('maps a domain error to its status, code, message and details', () => {
    expect(errorBody(new BackupNotFound('b1'))).toEqual({ statusCode: 404, code: 'BACKUP.NOT_FOUND', message: 'no backup b1', backupId: 'b1' });
  });

  it("keeps a guard's code and fills one in for Nest's own exceptions", () => {
    expect(errorBody(new UnauthorizedException({ code: 'AUTH.TOKEN_MISSING', message: 'send a token' }))).toEqual({ statusCode: 401, code: 'AUTH.TOKEN_MISSING', message: 'send a token' });
    expect(errorBody(new NotFoundException('Cannot GET /nope'))).toEqual({ statusCode: 404, code: 'REQUEST.NOT_FOUND', message: 'Cannot GET /nope' });
    expect(errorBody(new BadRequestException(['a is bad', 'b is bad']))).toMatchObject({ statusCode: 400, code: 'REQUEST.INVALID', message: 'a is bad; b is bad' });
  });

  it('turns a malformed JSON body into a 400 and anything unknown into a 500 that hides its details', () => {
    const parseFailure = Object.assign(new SyntaxError('Unexpected token } in JSON'), { status: 400, expose: true, type: 'entity.parse.failed' });
    expect(errorBody(parseFailure)).toEqual({ statusCode: 400, code: 'REQUEST.MALFORMED', message: 'Unexpected token } in JSON' });
    // As Nest's Express adapter hands it over.
    expect(errorBody(new BadRequestException(parseFailure.message, { cause: parseFailure }))).toMatchObject({ code: 'REQUEST.MALFORMED' });
    const secret = new Error('connect ECONNREFUSED postgres://admin:hunter2@db');
    expect(errorBody(secret)).toEqual({ statusCode: 500, code: 'INTERNAL', message: 'internal error (see the service log)' });
  });
});

describe('parseRequest', () => {
  const Query = z.strictObject({ limit: z.coerce.number().int().min(1, 'must be ≥ 1'), state: z.enum(['a', 'b'], { message: 'must be a or b' }).optional() });

  it('returns the parsed value', () => {
    expect(parseRequest(Query, { limit: '5' }, { part: 'query' })).toEqual({ limit: 5 });
  });

  it('names every bad field with what was sent, and every unknown one', () => {
    let error: unknown;
    try {
      parseRequest(Query, { limit: '0', state: 'c', colour: 'red' }, { part: 'query', code: 'VERIFY.INVALID_REQUEST' });
    } catch (e) {
      error = e;
    }
    expect(error).toBeInstanceOf(RequestInvalidError);
    expect(errorBody(error)).toEqual({
      statusCode: 400,
      code: 'VERIFY.INVALID_REQUEST',
      message: 'limit: must be ≥ 1 (got "0"); state: must be a or b (got "c"); colour: unknown parameter',
      issues: [
        { path: 'limit', message: 'must be ≥ 1 (got "0")' },
        { path: 'state', message: 'must be a or b (got "c")' },
        { path: 'colour', message: 'unknown parameter' },
      ],
    });
  });

  it('names a missing body as the body and cuts long echoes short', () => {
    const Body = z.strictObject({ to: z.string().max(3, 'too long') });
    expect(() => parseRequest(Body, { to: 'x'.repeat(500) })).toThrow(/^to: too long \(got "x{79}…\)$/);
    expect(() => parseRequest(z.string(), 5)).toThrow(/^\(body\): /);
  });
});
