const preset = require('../../jest.preset.js');

// age-encryption (and its @noble / @scure dependencies) is ESM-only: let swc transform it too.
module.exports = {
  ...preset,
  displayName: 'artifacts',
  rootDir: __dirname,
  transformIgnorePatterns: ['/node_modules/(?!(@nestjs|age-encryption|@noble|@scure)/)'],
};
