/**
 * `@continuity/messaging/nats`: reaching NATS without Nest — connections and credentials, the
 * identities' permissions, streams, KV buckets and object stores with their replicas. A process
 * that is no Nest application (the `continuity` CLI, scripts) imports this entry point, not the
 * package's index, whose JetStream transport brings NestJS microservices and rxjs. Nothing
 * imported from here may load them (a CLI test guards it).
 */
export * from './nats-connect.js';
export * from './nats-auth.js';
export * from './replication.js';
export * from './topology.js';
