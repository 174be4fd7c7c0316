/**
 * `@continuity/runtime/standalone`: what a process that is no Nest application (the `continuity`
 * CLI, scripts) shares with the services — its environment read and validated, policy files read
 * with their problems named, secrets kept out of messages, PostgreSQL helpers. The package's index
 * re-exports it beside bootstrap, health and the HTTP layer, which bring NestJS, rxjs and the
 * OpenTelemetry SDK; nothing imported from here may load them (a CLI test guards it).
 */
export * from './config.js';
export * from './config-file.js';
export * from './secrets.js';
export * from './postgres.js';
