#!/usr/bin/env node
// Offline verification of the audit ledger (`continuity-audit verify --help`) and reports fetched
// from the audit service (`continuity-audit report recovery-testing --help`).
const [command, ...rest] = process.argv.slice(2);
if (command === 'report') {
  void require('../dist/reports/recovery-testing.cli.js')
    .runReportCli(rest)
    .then((code) => (process.exitCode = code));
} else {
  process.exitCode = require('../dist/verification/cli.js').runCli(process.argv.slice(2));
}
