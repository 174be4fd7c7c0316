/** DI tokens the runtime module provides to every service. */
export const SERVICE_CONFIG = Symbol('SERVICE_CONFIG');
export const NATS_CONNECTION = Symbol('NATS_CONNECTION');
export const PG_POOL = Symbol('PG_POOL');
export const PUBLISHER = Symbol('PUBLISHER');
export const TOPOLOGY = Symbol('TOPOLOGY');
export const TELEMETRY = Symbol('TELEMETRY');
