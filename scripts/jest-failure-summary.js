// A Jest reporter that keeps each project's failures (test names and the first lines of their
// messages) in .test-failures/<project>.txt, so `npm test` can print them again after the whole
// run: with several projects running at once, a failure scrolls far above the run's last lines,
// and those last lines are often all a CI log keeps.
const fs = require('node:fs');
const path = require('node:path');

const DIR = path.join(__dirname, '..', '.test-failures');
const LINES = 25;
// eslint-disable-next-line no-control-regex
const plain = (text) => text.replace(/\u001b\[[0-9;]*m/g, '');
/** The message's first lines, without the stack frames of Jest itself and other dependencies. */
const head = (text) =>
  plain(text)
    .split('\n')
    .filter((line) => !/^\s+at .*node_modules/.test(line))
    .slice(0, LINES)
    .join('\n');

class FailureSummary {
  constructor(globalConfig) {
    // One Jest run per project (Nx runs each in its own folder): named after that folder.
    this.file = path.join(DIR, `${path.basename(globalConfig.rootDir).replace(/[^a-z0-9-]/gi, '_')}.txt`);
    this.failures = [];
  }

  onRunStart() {
    fs.rmSync(this.file, { force: true });
  }

  onTestResult(_test, result) {
    const file = path.relative(path.join(__dirname, '..'), result.testFilePath);
    if (result.testExecError) this.failures.push(`${file}: the suite did not run\n${head(result.testExecError.message || String(result.testExecError))}`);
    for (const t of result.testResults) {
      if (t.status === 'failed') this.failures.push(`${file} › ${t.fullName}\n${head(t.failureMessages.join('\n'))}`);
    }
  }

  onRunComplete() {
    if (!this.failures.length) return;
    fs.mkdirSync(DIR, { recursive: true });
    fs.writeFileSync(this.file, `${this.failures.join('\n\n')}\n`);
  }
}

module.exports = FailureSummary;
