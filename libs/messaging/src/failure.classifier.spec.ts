import { DatabaseError } from 'pg';
import { QueryFailedError } from 'typeorm';
import { errors as natsErrors } from '@nats-io/transport-node';
import { ContractViolationError, DomainError } from '@continuity/contracts';
import { classifyFailure, endpointsOf, TransientFailure } from './failure.classifier.js';

/** node-postgres's error for a SQLSTATE the server sent. */
const pgError = (code: string, message: string) => Object.assign(new DatabaseError(message, message.length, 'error'), { code, severity: 'FATAL' });
const sysError = (code: string, message: string) => Object.assign(new Error(message), { code, errno: -1, syscall: 'connect' });

describe('classifyFailure', () => {
  it.each([
    ['connection refused by PostgreSQL', sysError('ECONNREFUSED', 'connect ECONNREFUSED 127.0.0.1:5432'), 'postgres'],
    ['connection reset', sysError('ECONNRESET', 'read ECONNRESET'), 'network'],
    ['a timeout', sysError('ETIMEDOUT', 'connect ETIMEDOUT 10.0.0.7:443'), 'network'],
    ['PostgreSQL shutting down', pgError('57P01', 'terminating connection due to administrator command'), 'postgres'],
    ['PostgreSQL starting up', pgError('57P03', 'the database system is starting up'), 'postgres'],
    ['PostgreSQL in recovery', pgError('25006', 'cannot execute INSERT in a read-only transaction'), 'postgres'],
    ['a serialization failure', pgError('40001', 'could not serialize access due to concurrent update'), 'postgres'],
    ['a deadlock', pgError('40P01', 'deadlock detected'), 'postgres'],
    ['too many connections', pgError('53300', 'sorry, too many clients already'), 'postgres'],
    ['PostgreSQL out of disk', pgError('53100', 'could not extend file: No space left on device'), 'postgres'],
    ['node-postgres losing the server', new Error('Connection terminated unexpectedly'), 'postgres'],
    ['the pool timing out', new Error('timeout exceeded when trying to connect'), 'postgres'],
    ['a local disk full', Object.assign(new Error('ENOSPC: no space left on device, write'), { code: 'ENOSPC' }), 'disk'],
    ['NATS closed', new natsErrors.ClosedConnectionError(), 'nats'],
    ['a NATS request timing out', new natsErrors.TimeoutError(), 'nats'],
    ['NATS with no responders', new natsErrors.NoRespondersError('$JS.API.STREAM.INFO.X'), 'nats'],
    ['a declared transient failure', new TransientFailure('network', 'offsite bucket busy'), 'network'],
    ['a service answering 503', new DomainError('X.UNAVAILABLE', 'try later', 503), 'network'],
  ])('%s is transient', (_what, error, dependency) => {
    expect(classifyFailure(error)).toMatchObject({ kind: 'transient', dependency });
  });

  it('looks through TypeORM, causes and AggregateError for the cause that decides, keeping the outer message', () => {
    const typeorm = new QueryFailedError('insert into audit.log_entries …', [], pgError('57P01', 'terminating connection due to administrator command'));
    expect(classifyFailure(typeorm)).toMatchObject({ kind: 'transient', dependency: 'postgres' });
    const wrapped = new Error('recording backup b1 failed', { cause: sysError('ECONNREFUSED', 'connect ECONNREFUSED 127.0.0.1:5432') });
    expect(classifyFailure(wrapped)).toEqual({ kind: 'transient', dependency: 'postgres', reason: 'recording backup b1 failed (connect ECONNREFUSED 127.0.0.1:5432)' });
    // Node 20 reports a refused connection to a name with several addresses as an AggregateError.
    const aggregate = new AggregateError([sysError('ECONNREFUSED', 'connect ECONNREFUSED ::1:5432'), sysError('ECONNREFUSED', 'connect ECONNREFUSED 127.0.0.1:5432')], '');
    expect(classifyFailure(aggregate)).toMatchObject({ kind: 'transient', dependency: 'postgres' });
  });

  it.each([
    ['data PostgreSQL cannot hold', pgError('22P05', 'unsupported Unicode escape sequence')],
    ['a constraint a redelivery cannot fix', pgError('23514', 'new row violates check constraint "positive_size"')],
    ['an undefined table', pgError('42P01', 'relation "audit.nope" does not exist')],
    ['an invalid event', new ContractViolationError('BackupCreated v2', [{ path: 'data.sha256', message: 'must be 64 hex characters' }])],
    ['a request the service refuses', new DomainError('BACKUP.INVALID_REQUEST', 'resource: is required', 400)],
  ])('%s is permanent', (_what, error) => {
    expect(classifyFailure(error).kind).toBe('permanent');
  });

  it('calls everything else unknown, naming it', () => {
    expect(classifyFailure(new TypeError("Cannot read properties of undefined (reading 'id')"))).toEqual({
      kind: 'unknown',
      reason: "TypeError: Cannot read properties of undefined (reading 'id')",
    });
    expect(classifyFailure('boom')).toEqual({ kind: 'unknown', reason: 'boom' });
    expect(classifyFailure(pgError('57014', 'canceling statement due to statement timeout')).kind).toBe('unknown');
  });

  it("blames a refused connection on the dependency listening there, from the service's own URLs", () => {
    const endpoints = endpointsOf({ postgres: 'postgres://continuity@localhost:6543/continuity', nats: 'nats://10.0.0.5:4222,nats://10.0.0.6' });
    const refused = (address: string, port: number) => Object.assign(sysError('ECONNREFUSED', `connect ECONNREFUSED ${address}:${port}`), { address, port });
    expect(classifyFailure(refused('127.0.0.1', 6543), endpoints)).toMatchObject({ dependency: 'postgres' });
    expect(classifyFailure(refused('10.0.0.6', 4222), endpoints)).toMatchObject({ dependency: 'nats' });
    expect(classifyFailure(refused('10.0.0.9', 443), endpoints)).toMatchObject({ kind: 'transient', dependency: 'network' });
  });

  it('survives cycles of causes', () => {
    const a: Error & { cause?: unknown } = new Error('a');
    a.cause = new Error('b', { cause: a });
    expect(classifyFailure(a).kind).toBe('unknown');
  });
});
