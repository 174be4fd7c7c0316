import { spawnSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { parse } from 'yaml';
import { METRICS, seriesNames } from '../src/metric-names.js';

const root = join(__dirname, '..', '..', '..');
const prometheusDir = join(root, 'deploy', 'prometheus');
const known = new Set(Object.values(METRICS).flatMap(seriesNames));
/** Every `continuity_…` series a PromQL expression names. */
const metricsIn = (expr: string) => [...expr.matchAll(/\bcontinuity_[a-z0-9_]+/g)].map((m) => m[0]);

/** Debian's promtool (`apt-get install prometheus`): the real checker, never a stand-in. */
const promtool = (...args: string[]) => {
  const result = spawnSync('promtool', args, { cwd: prometheusDir, encoding: 'utf8' });
  if (result.error) {
    throw new Error(`promtool is not installed (${result.error.message}): install Debian's prometheus package (apt-get install -y prometheus), which provides it`);
  }
  return { code: result.status, output: `${result.stdout}${result.stderr}` };
};

const alerts = parse(readFileSync(join(prometheusDir, 'alerts.yml'), 'utf8')) as { groups: { name: string; rules: { alert: string; expr: string; annotations: Record<string, string> }[] }[] };
const rules = alerts.groups.flatMap((g) => g.rules);
const dashboard = JSON.parse(readFileSync(join(root, 'deploy', 'grafana', 'continuity.json'), 'utf8')) as { panels: { type: string; title: string; targets?: { expr: string }[] }[] };
const dashboardExprs = dashboard.panels.flatMap((p) => (p.targets ?? []).map((t) => ({ panel: p.title, expr: t.expr })));

describe('deploy/prometheus: alert rules and scrape configuration, checked by promtool', () => {
  it('the rules and the configuration are valid', () => {
    const checked = promtool('check', 'rules', 'alerts.yml');
    expect(checked.output).toContain(`SUCCESS: ${rules.length} rules found`);
    expect(checked.code).toBe(0);
    const config = promtool('check', 'config', 'prometheus.yml');
    expect(config.code).toBe(0);
    expect(config.output).toContain('is valid prometheus config file syntax');
  });

  it('the unit tests of the alerts pass (what fires, what stays pending)', () => {
    const tested = promtool('test', 'rules', 'alerts.test.yml');
    expect(tested.output).toContain('SUCCESS');
    expect(tested.code).toBe(0);
  });

  it('every alert names only exported metrics and carries a summary and a runbook', () => {
    for (const rule of rules) {
      const names = metricsIn(rule.expr);
      expect({ alert: rule.alert, names: names.length > 0 }).toEqual({ alert: rule.alert, names: true });
      for (const name of names) expect({ alert: rule.alert, name, exported: known.has(name) }).toEqual({ alert: rule.alert, name, exported: true });
      expect(rule.annotations.summary?.length).toBeGreaterThan(10);
      expect(rule.annotations.runbook?.length).toBeGreaterThan(20);
    }
  });
});

describe('deploy/grafana/continuity.json', () => {
  it('every panel queries only metrics the services export', () => {
    const panels = dashboard.panels.filter((p) => p.type !== 'row');
    expect(panels.length).toBeGreaterThan(10);
    for (const panel of panels) expect({ panel: panel.title, queries: (panel.targets ?? []).length > 0 }).toEqual({ panel: panel.title, queries: true });
    for (const { panel, expr } of dashboardExprs) {
      const names = metricsIn(expr);
      expect({ panel, names: names.length > 0 }).toEqual({ panel, names: true });
      for (const name of names) expect({ panel, name, exported: known.has(name) }).toEqual({ panel, name, exported: true });
    }
  });

  it('shows every metric of the list somewhere', () => {
    const shown = new Set(dashboardExprs.flatMap(({ expr }) => metricsIn(expr)));
    const missing = Object.values(METRICS).filter((m) => !seriesNames(m).some((n) => shown.has(n))).map((m) => m.name);
    expect(missing).toEqual([]);
  });
});
