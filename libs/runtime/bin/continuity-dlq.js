#!/usr/bin/env node
// Dead letters for operators: `continuity-dlq list|show|replay --help`.
require('../dist/dlq/dlq.cli.js')
  .runDlqCli(process.argv.slice(2))
  .then((code) => {
    process.exitCode = code;
  });
