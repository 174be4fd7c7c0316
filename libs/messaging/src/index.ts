export * from './jetstream.transport.js';
export * from './jetstream.context.js';
export * from './dead-letter.js';
export * from './retry.policy.js';
export * from './topology.js';
export * from './failure.classifier.js';
export * from './outages.js';
export * from './replication.js';
