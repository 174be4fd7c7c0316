import { RESOURCE_PATTERN } from './envelope.js';

/**
 * Who may publish what: the one model both layers enforce. The NATS server refuses a publish on a
 * subject an identity may not use (the generated permissions, `nats-auth`); consumers refuse an
 * event whose `source` may not publish its type (this policy), so an event that got onto the
 * stream anyway (a publisher trusted by NATS but lying about its `source`, an unauthenticated
 * development server, a stream restored from elsewhere) is still not acted on.
 *
 * - `backup` → `Backup*`, `Restore*` (with `RestorePointCreated`) and `Wal*` but `WalVerified` (the
 *   catalogue, retention, restores and the WAL archive it owns), and `Drill*` (it coordinates recovery drills);
 * - `verifier` → `IntegrityVerified`, `WalVerified`, and `ResourceDegraded` too (a gap in a WAL chain
 *   or a bad WAL copy: decision 0025);
 * - `failover` → `Failover*`, `ResourceDegraded` and `SynchronousReplicationChanged`;
 * - `audit` → `Audit*`, its findings `SloBreached`/`SloRestored`, `RiskIdentified`/`RiskResolved`,
 *   and `NotificationDelivered` (its notifier's deliveries);
 * - any service, the DLQ tool and an admin → `DeadLetterReplayed` (an operator's replay);
 * - an external publisher → `BackupCreated` for the resources listed for it, nothing else.
 */
export const SERVICE_IDENTITIES = ['backup', 'verifier', 'failover', 'audit'] as const;
export type ServiceIdentity = (typeof SERVICE_IDENTITIES)[number];

/** Operator tools that replay dead letters: the DLQ CLI publishes as `continuity-dlq`. */
export const OPERATOR_SOURCES = ['continuity-dlq', 'admin'] as const;

/** Names no external publisher may take: they would claim a service's or an operator's rights. */
export const RESERVED_IDENTITIES: readonly string[] = [...SERVICE_IDENTITIES, ...OPERATOR_SOURCES];

/** The service that alone publishes `type`, or null for a type no service owns. */
export const serviceOwning = (type: string): ServiceIdentity | null => {
  if (type === 'IntegrityVerified') return 'verifier';
  if (type === 'WalVerified') return 'verifier';
  if (type === 'ResourceDegraded' || type === 'SynchronousReplicationChanged' || type.startsWith('Failover')) return 'failover';
  if (type.startsWith('Backup') || type.startsWith('Restore') || type.startsWith('Wal')) return 'backup';
  if (type.startsWith('Drill')) return 'backup';
  if (type.startsWith('Audit')) return 'audit';
  if (type.startsWith('Slo') || type.startsWith('Risk')) return 'audit';
  if (type === 'NotificationDelivered') return 'audit';
  return null;
};

/**
 * Types a service publishes besides their owner: the verifier reports a degraded WAL archive (a gap
 * in the chain, a bad copy) with `ResourceDegraded`, as failover reports a degraded member.
 */
export const ALSO_PUBLISHED_BY: Readonly<Record<string, readonly ServiceIdentity[]>> = { ResourceDegraded: ['verifier'] };

/** Every service that may publish `type`: its owner, then the others allowed to. */
export const servicesPublishing = (type: string): ServiceIdentity[] => {
  const owner = serviceOwning(type);
  return [...(owner ? [owner] : []), ...(ALSO_PUBLISHED_BY[type] ?? [])];
};

/** Published by whoever replays a dead letter, not by the owner of the replayed event's type. */
export const REPLAY_EVENT_TYPE = 'DeadLetterReplayed';

/** The one type external publishers may publish, for their own resources. */
export const EXTERNAL_EVENT_TYPE = 'BackupCreated';

export interface ExternalPublisher {
  name: string;
  resources: readonly string[];
}

export interface ProvenancePolicy {
  /** External publishers by name, each with the resources it may publish `BackupCreated` for. */
  publishers: ReadonlyMap<string, ReadonlySet<string>>;
  /** `occurredAt` later than now + this is refused: a verdict dated ahead would win for good. */
  maxFutureSkewMs: number;
}

export const DEFAULT_MAX_FUTURE_SKEW_MS = 5 * 60_000;

export const provenancePolicy = (publishers: readonly ExternalPublisher[] = [], maxFutureSkewMs = DEFAULT_MAX_FUTURE_SKEW_MS): ProvenancePolicy => ({
  publishers: new Map(publishers.map((p) => [p.name, new Set(p.resources)])),
  maxFutureSkewMs,
});

export type ProvenanceVerdict =
  | { trusted: true }
  | { trusted: false; kind: 'unknown-source' | 'unauthorized-source' | 'future-dated'; reason: string };

const TRUSTED: ProvenanceVerdict = { trusted: true };

const isService = (source: string): source is ServiceIdentity => (SERVICE_IDENTITIES as readonly string[]).includes(source);
const isOperator = (source: string) => (OPERATOR_SOURCES as readonly string[]).includes(source);

/** Whether `source` may publish `type` for `resource` (the same rule as the NATS permissions). */
export const mayPublish = (policy: ProvenancePolicy, source: string, type: string, resource: string): boolean => {
  if (type === REPLAY_EVENT_TYPE) return isService(source) || isOperator(source);
  if (isService(source)) return servicesPublishing(type).includes(source);
  return type === EXTERNAL_EVENT_TYPE && (policy.publishers.get(source)?.has(resource) ?? false);
};

/**
 * Whether a consumer may act on the event: its source may publish its type for its resource, and
 * it is not dated further ahead than the allowed skew. Pure: `nowMs` is passed in.
 */
export const checkProvenance = (
  policy: ProvenancePolicy,
  event: { type: string; source: string; resource: string; occurredAt: string },
  nowMs: number,
): ProvenanceVerdict => {
  const { type, source, resource } = event;
  if (!mayPublish(policy, source, type, resource)) {
    const known = isService(source) || isOperator(source) || policy.publishers.has(source);
    if (!known) return { trusted: false, kind: 'unknown-source', reason: `source ${JSON.stringify(source)} is no known identity; ${type} is published by ${allowedSourcesOf(policy, type, resource)}` };
    return { trusted: false, kind: 'unauthorized-source', reason: `source ${JSON.stringify(source)} may not publish ${type} for ${resource}; it is published by ${allowedSourcesOf(policy, type, resource)}` };
  }
  const occurredMs = Date.parse(event.occurredAt);
  if (occurredMs > nowMs + policy.maxFutureSkewMs) {
    return {
      trusted: false,
      kind: 'future-dated',
      reason: `occurredAt ${event.occurredAt} is ${Math.round((occurredMs - nowMs) / 1000)} s in the future (more than EVENT_MAX_FUTURE_SKEW_MS=${policy.maxFutureSkewMs})`,
    };
  }
  return TRUSTED;
};

const allowedSourcesOf = (policy: ProvenancePolicy, type: string, resource: string): string => {
  if (type === REPLAY_EVENT_TYPE) return 'a service or an operator';
  const owners = servicesPublishing(type);
  const external = type === EXTERNAL_EVENT_TYPE ? [...policy.publishers].filter(([, resources]) => resources.has(resource)).map(([name]) => name) : [];
  const all = [...owners, ...external];
  return all.length ? all.join(' or ') : 'nobody';
};

export class PublishersSyntaxError extends Error {
  override readonly name = 'PublishersSyntaxError';
}

/**
 * `CONTINUITY_PUBLISHERS`: `billing=billing-db,billing-archive;crm=crm-db` (publishers separated
 * by `;`, each `name=resource,resource…`). The same lists as the identities file's `publishers`.
 */
export const parsePublishers = (value: string): ExternalPublisher[] => {
  const publishers: ExternalPublisher[] = [];
  for (const part of value.split(';').map((p) => p.trim()).filter(Boolean)) {
    const at = part.indexOf('=');
    const name = at < 0 ? part : part.slice(0, at).trim();
    const resources = at < 0 ? [] : part.slice(at + 1).split(',').map((r) => r.trim()).filter(Boolean);
    validatePublisher({ name, resources });
    if (publishers.some((p) => p.name === name)) throw new PublishersSyntaxError(`publisher ${name} is listed twice`);
    publishers.push({ name, resources });
  }
  return publishers;
};

/** An external publisher's name is a subject-safe token no service uses; it lists ≥ 1 valid resource. */
export const validatePublisher = (publisher: ExternalPublisher): void => {
  if (!/^[a-z][a-z0-9_-]{0,63}$/.test(publisher.name)) {
    throw new PublishersSyntaxError(`publisher name ${JSON.stringify(publisher.name)} must be lowercase letters, digits, _ or -, starting with a letter`);
  }
  if (RESERVED_IDENTITIES.includes(publisher.name)) throw new PublishersSyntaxError(`publisher name ${publisher.name} is reserved for a service or an operator`);
  if (publisher.resources.length === 0) throw new PublishersSyntaxError(`publisher ${publisher.name} lists no resources (name=resource,resource…)`);
  const bad = publisher.resources.find((r) => !RESOURCE_PATTERN.test(r));
  if (bad !== undefined) throw new PublishersSyntaxError(`publisher ${publisher.name}: ${JSON.stringify(bad)} is not a valid resource name`);
};
