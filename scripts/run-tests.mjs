// Runs every project's tests (Nx, two at a time) and, when any fail, prints again at the end what
// each project's failure-summary reporter kept (scripts/jest-failure-summary.js): with projects
// running side by side, a failure scrolls far above the run's last lines, which are often all a
// CI log keeps.
import { spawnSync } from 'node:child_process';
import { existsSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');
const kept = join(root, '.test-failures');
rmSync(kept, { recursive: true, force: true });

const nx = spawnSync(join(root, 'node_modules', '.bin', 'nx'), ['run-many', '-t', 'test', '--parallel=2', '--output-style=static', ...process.argv.slice(2)], {
  cwd: root,
  stdio: 'inherit',
});
if (nx.status === 0) process.exit(0);

const files = existsSync(kept) ? readdirSync(kept).filter((f) => f.endsWith('.txt')).sort() : [];
if (!files.length) console.error(`\nthe tests failed (${nx.error?.message ?? `exit ${nx.status ?? nx.signal}`}) with no failed test recorded: see above.`);
for (const file of files) console.error(`\n===== failed in ${file.replace(/\.txt$/, '')} =====\n${readFileSync(join(kept, file), 'utf8')}`);
process.exit(nx.status ?? 1);
