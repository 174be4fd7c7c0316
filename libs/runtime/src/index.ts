export * from './config.js';
export * from './tokens.js';
export * from './unreachable.js';
export * from './health.controller.js';
export * from './runtime.module.js';
export * from './bootstrap.js';
export * from './service-exception.filter.js';
export * from './config-file.js';
