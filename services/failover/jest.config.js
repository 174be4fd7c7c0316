module.exports = { ...require('../../jest.preset.js'), displayName: 'failover', rootDir: __dirname };
