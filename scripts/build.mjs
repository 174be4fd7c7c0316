// Compiles every project's src/ to its dist/ with swc (no type check: `npm run typecheck` does that).
// swc keeps decorator metadata, which Nest's dependency injection needs.
import { spawnSync } from 'node:child_process';
import { existsSync, readdirSync, rmSync } from 'node:fs';
import { join } from 'node:path';

const root = new URL('..', import.meta.url).pathname;
const projects = ['libs', 'services'].flatMap((group) =>
  readdirSync(join(root, group)).map((name) => join(group, name)).filter((dir) => existsSync(join(root, dir, 'src'))),
);
const swc = join(root, 'node_modules', '.bin', 'swc');
const started = Date.now();
for (const project of projects) {
  rmSync(join(root, project, 'dist'), { recursive: true, force: true });
  const result = spawnSync(
    swc,
    ['src', '-d', 'dist', '--strip-leading-paths', '--config-file', join(root, '.swcrc'), '--ignore', '**/*.spec.ts', '--quiet'],
    { cwd: join(root, project), stdio: 'inherit' },
  );
  if (result.status !== 0) {
    console.error(`build failed in ${project}`);
    process.exit(result.status ?? 1);
  }
}
console.log(`built ${projects.length} projects in ${Date.now() - started} ms`);
