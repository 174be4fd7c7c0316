// Jest runs tests in a vm context with its own `Date`; fs.Stats dates come from Node's own realm,
// so `stat.mtime instanceof Date` is false inside the test realm. node-tar relies on that check
// when it writes PAX headers (non-ASCII names, sub-second mtimes): without this, archives made in
// Jest carry "Invalid Date" mtimes that real processes never see. Share the one real `Date`.
const { TestEnvironment } = require('jest-environment-node');

class NodeRealmDateEnvironment extends TestEnvironment {
  constructor(config, context) {
    super(config, context);
    this.global.Date = Date;
  }
}

module.exports = NodeRealmDateEnvironment;
