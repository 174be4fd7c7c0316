// `npm run bench -- <name> [args…]`: builds libs and services (scripts/build.mjs), compiles bench/*.ts
// with swc to bench/dist/, then runs `node bench/dist/<name>.js [args…]` and exits with its code.
// With no name or an unknown one it lists the benchmarks and exits 2.
import { spawn, spawnSync } from 'node:child_process';
import { existsSync, readdirSync, rmSync } from 'node:fs';
import { join } from 'node:path';

const root = new URL('..', import.meta.url).pathname;
const benchDir = join(root, 'bench');
const outDir = join(benchDir, 'dist');

const available = existsSync(benchDir)
  ? readdirSync(benchDir, { withFileTypes: true })
      .filter((e) => e.isFile() && e.name.endsWith('.ts') && !e.name.endsWith('.d.ts'))
      .map((e) => e.name.slice(0, -'.ts'.length))
      .sort()
  : [];

const [name, ...args] = process.argv.slice(2);
if (!name || !available.includes(name)) {
  if (name) console.error(`unknown benchmark: ${name}`);
  console.error(`usage: npm run bench -- <name> [args…]\navailable benchmarks:\n${available.map((b) => `  ${b}`).join('\n') || '  (none)'}`);
  process.exit(2);
}

const run = (command, commandArgs, what) => {
  const result = spawnSync(command, commandArgs, { cwd: root, stdio: 'inherit' });
  if (result.error || result.status !== 0) {
    console.error(`${what} failed${result.error ? `: ${result.error.message}` : ` (exit ${result.status ?? result.signal})`}`);
    process.exit(result.status || 1);
  }
};

run(process.execPath, [join(root, 'scripts', 'build.mjs')], 'build');
rmSync(outDir, { recursive: true, force: true });
run(
  join(root, 'node_modules', '.bin', 'swc'),
  ['bench', '-d', 'bench/dist', '--strip-leading-paths', '--config-file', '.swcrc', '--ignore', 'bench/dist/**', '--quiet'],
  'compiling bench/',
);
const entry = join(outDir, `${name}.js`);
if (!existsSync(entry)) {
  console.error(`compiling bench/ did not produce ${entry}`);
  process.exit(1);
}

// Ctrl-C reaches the benchmark too (same process group): wait for it to clean up and exit. A SIGTERM
// sent to this process alone is passed on.
const child = spawn(process.execPath, [entry, ...args], { cwd: root, stdio: 'inherit' });
process.on('SIGINT', () => undefined);
process.on('SIGTERM', () => child.kill('SIGTERM'));
child.on('error', (error) => {
  console.error(`could not run ${entry}: ${error.message}`);
  process.exit(1);
});
child.on('exit', (code, signal) => process.exit(code ?? (signal ? 128 + (signal === 'SIGINT' ? 2 : 15) : 1)));
