import {
  DEFAULT_TOPOLOGY,
  deadLetterSubject,
  eventSubject,
  eventTypeFilter,
  InvalidSubjectTokenError,
  isolatedTopology,
  parseEventSubject,
  replayFilter,
  replayStreamOf,
  replaySubject,
} from './subjects.js';

describe('subjects', () => {
  it('builds continuity.events.<Type>.<resource>', () => {
    expect(eventSubject('BackupCreated', 'orders-db')).toBe('continuity.events.BackupCreated.orders-db');
    expect(eventTypeFilter('BackupCreated')).toBe('continuity.events.BackupCreated.*');
    expect(eventTypeFilter('*')).toBe('continuity.events.>');
    expect(deadLetterSubject('audit_all')).toBe('continuity.dlq.audit_all');
  });

  it('gives each consumer its own replay subjects, one per dead letter, in a stream of their own', () => {
    expect(replaySubject('audit_ledger', 17)).toBe('continuity.replay.audit_ledger.17');
    expect(replayFilter('audit_ledger')).toBe('continuity.replay.audit_ledger.*');
    expect(replaySubject('odd.name>', 1)).toBe('continuity.replay.odd_name_.1');
    expect(replayStreamOf(DEFAULT_TOPOLOGY)).toBe('CONTINUITY_REPLAY');
    expect(replayStreamOf(isolatedTopology('t_abc'))).toBe('T_ABC_REPLAY');
  });

  it.each(['orders.db', 'orders db', '*', '>', '', '-lead', 'x'.repeat(129)])('refuses resource %j', (resource) => {
    expect(() => eventSubject('BackupCreated', resource)).toThrow(InvalidSubjectTokenError);
  });

  it('refuses event types that are not PascalCase tokens', () => {
    expect(() => eventSubject('backup.created', 'db')).toThrow('event type "backup.created" is not a valid subject token');
  });

  it('parses its own subjects back, and nothing else', () => {
    const topology = isolatedTopology('t_abc');
    expect(parseEventSubject(eventSubject('FailoverCompleted', 'pg', topology), topology)).toEqual({
      type: 'FailoverCompleted',
      resource: 'pg',
    });
    expect(parseEventSubject('continuity.events.FailoverCompleted.pg', topology)).toBeNull();
    expect(parseEventSubject('continuity.events.X', DEFAULT_TOPOLOGY)).toBeNull();
  });

  it('gives a test run streams of its own', () => {
    expect(isolatedTopology('t_1a2b')).toEqual({ namespace: 't_1a2b', eventStream: 'T_1A2B', deadLetterStream: 'T_1A2B_DLQ' });
  });
});
