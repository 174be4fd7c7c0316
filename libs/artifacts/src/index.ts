export * from './artifact.js';
export * from './manifest.js';
export * from './keys.js';
export * from './encryption.js';
export * from './zstd.js';
export * from './fd-frames.js';
export * from './wal-restore.js';
export * from './wal-versions.js';
