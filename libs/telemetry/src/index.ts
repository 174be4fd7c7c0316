export * from './start-telemetry.js';
export * from './span.js';
// Propagation through NATS headers lives with the publisher in contracts; re-exported for services.
export { extractTraceContext, injectTraceHeaders } from '@continuity/contracts';
export * from './metric-names.js';
