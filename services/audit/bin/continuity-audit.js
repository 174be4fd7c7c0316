#!/usr/bin/env node
// Offline verification of the audit ledger: see `continuity-audit verify --help`.
process.exitCode = require('../dist/verification/cli.js').runCli(process.argv.slice(2));
