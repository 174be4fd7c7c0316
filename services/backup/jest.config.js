const preset = require('../../jest.preset.js');

// age-encryption (and its @noble / @scure dependencies) is ESM-only: let swc transform it too.
module.exports = {
  ...preset,
  displayName: 'backup',
  rootDir: __dirname,
  // One real Date for fs.Stats and the test realm (see the file).
  testEnvironment: '<rootDir>/test/jest-environment.js',
  transformIgnorePatterns: ['/node_modules/(?!(@nestjs|age-encryption|@noble|@scure)/)'],
};
