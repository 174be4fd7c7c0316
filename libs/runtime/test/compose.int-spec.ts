import { spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { parse } from 'yaml';
import { hashedTokensFile, hashToken } from '../src/http/access-tokens.js';

// docker-compose.yml cannot be run here (no Docker engine): these checks read it as compose would.
const root = join(__dirname, '..', '..', '..');
const compose = parse(readFileSync(join(root, 'docker-compose.yml'), 'utf8'), { merge: true }) as {
  services: Record<string, { command?: string[] | string; restart?: string; healthcheck?: unknown; environment?: Record<string, string>; volumes?: string[]; depends_on?: Record<string, { condition: string }> }>;
  volumes: Record<string, unknown>;
};
const services = Object.entries(compose.services);
const oneShots = services.filter(([, s]) => s.restart === 'no').map(([name]) => name);
const continuity = services.filter(([, s]) => JSON.stringify(s.command ?? '').includes('dist/main.js'));

describe('docker-compose.yml (read, not run)', () => {
  it('gives every long-running service a health check; one-shots are waited for to complete', () => {
    expect(oneShots.sort()).toEqual(['nats-auth', 'tokens']);
    expect(services.filter(([name, s]) => !oneShots.includes(name) && !s.healthcheck).map(([name]) => name)).toEqual([]);
    for (const [, s] of continuity) expect(s.depends_on).toMatchObject({ tokens: { condition: 'service_completed_successfully' }, postgres: { condition: 'service_healthy' } });
  });

  it('hands every Continuity service the hashed tokens the one-shot container made', () => {
    expect(continuity.map(([name]) => name).sort()).toEqual(['audit-1', 'audit-2', 'backup-1', 'backup-2', 'failover-1', 'failover-2', 'verifier-1', 'verifier-2']);
    for (const [, s] of continuity) {
      expect(s.environment?.CONTINUITY_TOKENS_FILE).toBe('/tokens/tokens.sha256');
      expect(s.volumes).toContain('tokens:/tokens:ro');
    }
    expect(compose.services.tokens!.volumes).toEqual(['tokens:/tokens']);
    expect(compose.services.tokens!.command).toEqual(['sh', '-c', 'node scripts/tokens.mjs --out /tokens --print && chown -R node:node /tokens']);
  });

  it('runs the token maker as the container does: printed tokens match the hashes the services load', () => {
    const dir = mkdtempSync(join(tmpdir(), 'continuity-tokens-'));
    try {
      const run = spawnSync(process.execPath, [join(root, 'scripts', 'tokens.mjs'), '--out', dir, '--print'], { encoding: 'utf8' });
      expect(run.status).toBe(0);
      const printed = Object.fromEntries(run.stdout.split('\n').slice(1).filter(Boolean).map((line) => line.trim().split(/\s+/)));
      expect(Object.keys(printed).sort()).toEqual(['admin', 'auditor', 'operator', 'viewer']);
      const loaded = hashedTokensFile.parse(join(dir, 'tokens.sha256'));
      for (const token of loaded) expect(token.sha256.equals(hashToken(printed[token.role]!))).toBe(true);
      // A second run keeps the tokens (restarting compose does not log everyone out).
      const again = spawnSync(process.execPath, [join(root, 'scripts', 'tokens.mjs'), '--out', dir, '--print'], { encoding: 'utf8' });
      expect(again.stdout).toBe(run.stdout);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it('keeps each audit signing key on a volume whose folder the image gives to the node user', () => {
    const dockerfile = readFileSync(join(root, 'Dockerfile'), 'utf8');
    for (const name of ['audit-1', 'audit-2']) {
      const audit = compose.services[name]!;
      const keyDir = dirname(audit.environment!.AUDIT_SIGNING_KEY_FILE!);
      const volume = audit.volumes!.find((v) => v.endsWith(`:${keyDir}`))!;
      expect(volume).toBeDefined();
      expect(Object.keys(compose.volumes)).toContain(volume.split(':')[0]);
      expect(dockerfile).toContain(`chown node:node ${keyDir}`);
    }
    expect(dockerfile.indexOf('chown node:node /var/lib/continuity')).toBeLessThan(dockerfile.indexOf('USER node'));
  });

  it('runs Jaeger, Prometheus (scraping every service instance) and Grafana with the deploy/ files', () => {
    expect(compose.services.jaeger).toBeDefined();
    expect(compose.services.prometheus!.volumes).toEqual(expect.arrayContaining(['./deploy/prometheus/prometheus.yml:/etc/prometheus/prometheus.yml:ro', './deploy/prometheus/alerts.yml:/etc/prometheus/alerts.yml:ro']));
    expect(compose.services.grafana!.volumes).toEqual(
      expect.arrayContaining(['./deploy/grafana/provisioning:/etc/grafana/provisioning:ro', './deploy/grafana/continuity.json:/var/lib/grafana/dashboards/continuity.json:ro']),
    );
    const prometheus = parse(readFileSync(join(root, 'deploy/prometheus/prometheus.yml'), 'utf8')) as { rule_files: string[]; scrape_configs: { static_configs: { targets: string[] }[] }[] };
    // Relative to prometheus.yml, where compose mounts alerts.yml beside it (and promtool checks it in place).
    expect(prometheus.rule_files).toEqual(['alerts.yml']);
    const targets = prometheus.scrape_configs.flatMap((c) => c.static_configs.flatMap((s) => s.targets)).sort();
    expect(targets).toEqual(continuity.map(([name]) => `${name}:3000`).sort());
    for (const file of ['datasources/prometheus.yml', 'dashboards/continuity.yml']) expect(existsSync(join(root, 'deploy/grafana/provisioning', file))).toBe(true);
  });
});
