#!/usr/bin/env node
// `continuity-audit verify --help`: offline verification of the audit ledger.
// `continuity-audit plan <resource>`: a resource's business continuity plan, from the ledger's database.
// `continuity-audit report recovery-testing --help`: reports fetched from the audit service.
const [command, ...rest] = process.argv.slice(2);
if (command === 'report') {
  void require('../dist/reports/recovery-testing.cli.js')
    .runReportCli(rest)
    .then((code) => (process.exitCode = code));
} else if (command === 'plan') {
  require('../dist/plans/plan.cli.js').runPlanCli(rest).then((code) => (process.exitCode = code));
} else {
  process.exitCode = require('../dist/verification/cli.js').runCli(process.argv.slice(2));
}
