const preset = require('../../jest.preset.js');

// age-encryption (and its @noble / @scure dependencies) is ESM-only: let swc transform it too.
module.exports = {
  ...preset,
  displayName: 'verifier',
  rootDir: __dirname,
  // One real Date for fs.Stats and the test realm (node-tar; see the file). The tests drive the
  // backup service's code in-process to make real backups.
  testEnvironment: '<rootDir>/test/jest-environment.js',
  transformIgnorePatterns: ['/node_modules/(?!(@nestjs|age-encryption|@noble|@scure)/)'],
};
