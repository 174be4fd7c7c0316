// Shared Jest set-up for every project: swc for speed (with decorator metadata, or Nest
// injects undefined), `./x.js` imports mapped to sources, and @nestjs (ESM-only) transformed.
const path = require('node:path');
const fs = require('node:fs');

const swcrc = JSON.parse(fs.readFileSync(path.join(__dirname, '.swcrc'), 'utf8'));
delete swcrc.$schema;

module.exports = {
  testEnvironment: 'node',
  transform: { '^.+\\.(t|j|mj)s$': ['@swc/jest', { ...swcrc, swcrc: false }] },
  transformIgnorePatterns: ['/node_modules/(?!(@nestjs)/)'],
  moduleNameMapper: {
    '^@continuity/([a-z-]+)$': path.join(__dirname, 'libs/$1/src/index.ts'),
    // A lib's sub-entry points (`/testing`, `@continuity/messaging/nats`, …) are files of its src/.
    '^@continuity/([a-z-]+)/([a-z-]+)$': path.join(__dirname, 'libs/$1/src/$2.ts'),
    '^(\\.{1,2}/.*)\\.js$': '$1',
  },
  testMatch: ['<rootDir>/src/**/*.spec.ts', '<rootDir>/test/**/*.int-spec.ts'],
  // Room for a service process to start on a busy machine (waitForOutput waits up to 45 s) inside
  // the hooks and tests that start one without a timeout of their own.
  testTimeout: 60_000,
  // Failures kept for `npm test` to print again at the end (scripts/run-tests.mjs).
  reporters: ['default', path.join(__dirname, 'scripts/jest-failure-summary.js')],
};
