import { EVENT_TYPE_PATTERN, RESOURCE_PATTERN } from './envelope.js';

/**
 * Where events live. Production uses the defaults; every test run uses its own namespace so
 * runs never share a stream (JetStream forbids two streams over the same subjects).
 */
export interface Topology {
  /** First subject token: `continuity` → `continuity.events.<Type>.<resource>`. */
  namespace: string;
  eventStream: string;
  deadLetterStream: string;
}

export const DEFAULT_TOPOLOGY: Topology = {
  namespace: 'continuity',
  eventStream: 'CONTINUITY',
  deadLetterStream: 'CONTINUITY_DLQ',
};

/** A topology of its own for one test run or benchmark, e.g. `t_1a2b3c`. */
export const isolatedTopology = (id: string): Topology => {
  const token = id.replace(/[^A-Za-z0-9_]/g, '_');
  return { namespace: token, eventStream: token.toUpperCase(), deadLetterStream: `${token.toUpperCase()}_DLQ` };
};

export class InvalidSubjectTokenError extends Error {
  override readonly name = 'InvalidSubjectTokenError';
  constructor(what: string, value: string) {
    super(`${what} ${JSON.stringify(value)} is not a valid subject token`);
  }
}

const token = (what: string, value: string, pattern: RegExp) => {
  if (!pattern.test(value)) throw new InvalidSubjectTokenError(what, value);
  return value;
};

export const eventSubject = (type: string, resource: string, topology: Topology = DEFAULT_TOPOLOGY): string =>
  `${topology.namespace}.events.${token('event type', type, EVENT_TYPE_PATTERN)}.${token('resource', resource, RESOURCE_PATTERN)}`;

/** Filter subject for every event of one type, or of every type with `*`. */
export const eventTypeFilter = (type: string, topology: Topology = DEFAULT_TOPOLOGY): string =>
  type === '*'
    ? allEventsSubject(topology)
    : `${topology.namespace}.events.${token('event type', type, EVENT_TYPE_PATTERN)}.*`;

export const allEventsSubject = (topology: Topology = DEFAULT_TOPOLOGY) => `${topology.namespace}.events.>`;

export const deadLetterSubject = (consumer: string, topology: Topology = DEFAULT_TOPOLOGY) =>
  `${topology.namespace}.dlq.${consumer.replace(/[^A-Za-z0-9_-]/g, '_')}`;

export const allDeadLettersSubject = (topology: Topology = DEFAULT_TOPOLOGY) => `${topology.namespace}.dlq.>`;

/**
 * Replayed dead letters live in a stream of their own, one subject per consumer and dead letter,
 * so a replay reaches the one durable consumer that failed and no other (NATS 2.9 has no
 * multi-filter consumers: each durable consumer gets a second one, `<durable>_replay`, on it).
 */
export const replayStreamOf = (topology: Topology = DEFAULT_TOPOLOGY) => `${topology.eventStream}_REPLAY`;

export const replaySubject = (consumer: string, deadLetterSequence: number, topology: Topology = DEFAULT_TOPOLOGY) =>
  `${topology.namespace}.replay.${consumer.replace(/[^A-Za-z0-9_-]/g, '_')}.${deadLetterSequence}`;

/** Filter subject of one consumer's replays. */
export const replayFilter = (consumer: string, topology: Topology = DEFAULT_TOPOLOGY) =>
  `${topology.namespace}.replay.${consumer.replace(/[^A-Za-z0-9_-]/g, '_')}.*`;

export const allReplaysSubject = (topology: Topology = DEFAULT_TOPOLOGY) => `${topology.namespace}.replay.>`;

/** `{ type, resource }` of an event subject, or null when the subject is not one. */
export const parseEventSubject = (subject: string, topology: Topology = DEFAULT_TOPOLOGY) => {
  const parts = subject.split('.');
  if (parts.length !== 4 || parts[0] !== topology.namespace || parts[1] !== 'events') return null;
  return { type: parts[2]!, resource: parts[3]! };
};
