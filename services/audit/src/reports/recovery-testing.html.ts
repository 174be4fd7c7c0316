import type { SignedTreeHead } from '@continuity/contracts/ledger';
import { formatDuration } from './continuity-report.html.js';
import type { RecoveryTest, RecoveryTestingReport, ResourceRecoveryTesting } from './recovery-testing.js';

const escape = (value: unknown) =>
  String(value).replace(/[&<>"']/g, (c) => ({ '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;', "'": '&#39;' })[c]!);
const badge = (ok: boolean | null, yes: string, no: string) => (ok === null ? '—' : `<span class="badge ${ok ? 'ok' : 'bad'}">${escape(ok ? yes : no)}</span>`);

/**
 * One measure (RTO or RPO) of every test over the period as an inline SVG: drills as dots joined
 * by a line, restore tests as squares, failed tests in red, the target as a dashed line.
 */
const trendChart = (tests: RecoveryTest[], pick: 'rtoMs' | 'rpoMs', report: RecoveryTestingReport): string => {
  const width = 640;
  const height = 150;
  const pad = 40;
  const x0 = Date.parse(report.from);
  const x1 = Math.max(x0 + 1, Date.parse(report.to));
  const measured = tests.filter((t) => t[pick] !== null);
  const target = Math.max(...tests.map((t) => t.targets[pick]), 1);
  const maxY = Math.max(target * 1.5, ...measured.map((t) => t[pick]!));
  const x = (at: string) => pad + ((Math.min(Math.max(Date.parse(at), x0), x1) - x0) / (x1 - x0)) * (width - 2 * pad);
  const y = (ms: number) => height - pad / 2 - (ms / maxY) * (height - pad);
  const label = pick === 'rtoMs' ? 'RTO' : 'RPO';
  const drills = measured.filter((t) => t.kind === 'drill');
  const marks = measured
    .map((t) =>
      t.kind === 'drill'
        ? `<circle cx="${x(t.at).toFixed(1)}" cy="${y(t[pick]!).toFixed(1)}" r="3.5" class="point ${t.outcome}"><title>drill ${escape(t.id)}: ${escape(formatDuration(t[pick]))}</title></circle>`
        : `<rect x="${(x(t.at) - 3).toFixed(1)}" y="${(y(t[pick]!) - 3).toFixed(1)}" width="6" height="6" class="point ${t.outcome}"><title>restore test ${escape(t.id)}: ${escape(formatDuration(t[pick]))}</title></rect>`,
    )
    .join('');
  return `<svg class="chart ${pick === 'rtoMs' ? 'rto' : 'rpo'}" role="img" aria-label="${label} of each recovery test over the period" viewBox="0 0 ${width} ${height}" width="${width}" height="${height}">
  <line x1="${pad}" y1="${y(0)}" x2="${width - pad}" y2="${y(0)}" class="axis"/>
  <line x1="${pad}" y1="${y(target)}" x2="${width - pad}" y2="${y(target)}" class="target"/>
  <text x="${width - pad}" y="${y(target) - 4}" text-anchor="end" class="label">${label} target ${escape(formatDuration(target))}</text>
  <text x="${pad}" y="${height - 2}" class="label">${escape(report.from.slice(0, 16).replace('T', ' '))}</text>
  <text x="${width - pad}" y="${height - 2}" text-anchor="end" class="label">${escape(report.to.slice(0, 16).replace('T', ' '))}</text>
  <text x="2" y="${y(maxY) + 10}" class="label">${escape(formatDuration(maxY))}</text>
  ${drills.length > 1 ? `<polyline class="trend" points="${drills.map((t) => `${x(t.at).toFixed(1)},${y(t[pick]!).toFixed(1)}`).join(' ')}"/>` : ''}
  ${marks || `<text x="${width / 2}" y="${height / 2}" text-anchor="middle" class="label">no ${label} measured in the period</text>`}
</svg>`;
};

const testRow = (t: RecoveryTest) => `<tr class="${t.outcome}">
<td>${escape(t.at.slice(0, 19).replace('T', ' '))}</td><td>${t.kind === 'drill' ? `drill (${escape(t.drillKind)})` : 'restore test'}</td>
<td>${badge(t.outcome === 'passed', 'passed', 'failed')}</td>
<td>${escape(formatDuration(t.rtoMs))} / ${escape(formatDuration(t.targets.rtoMs))} ${badge(t.rtoMet, 'met', 'missed')}</td>
<td>${escape(formatDuration(t.rpoMs))} / ${escape(formatDuration(t.targets.rpoMs))} ${badge(t.rpoMet, 'met', 'missed')}</td>
<td class="evidence">${escape(t.eventId)} (#${t.logIndex})</td></tr>`;

const resourceSection = (r: ResourceRecoveryTesting, report: RecoveryTestingReport) => `
<section class="resource" data-resource="${escape(r.resource)}">
  <h2>Recovery testing: ${escape(r.resource)}</h2>
  <p class="facts">Drills: ${r.drills.total} (${r.drills.passed} passed, ${r.drills.failed} failed) · restore tests: ${r.restoreTests.total} (${r.restoreTests.passed} passed, ${r.restoreTests.failed} failed) · worst RTO ${escape(formatDuration(r.worstRtoMs))} · worst RPO ${escape(formatDuration(r.worstRpoMs))} · last drill: ${r.lastDrill ? `${escape(r.lastDrill.at.slice(0, 19).replace('T', ' '))} ${badge(r.lastDrill.outcome === 'passed', 'passed', 'failed')}` : '<b>none in the period</b>'}</p>
  <h3>RTO trend</h3>
  ${trendChart(r.tests, 'rtoMs', report)}
  <h3>RPO trend</h3>
  ${trendChart(r.tests, 'rpoMs', report)}
  ${r.failures.length ? `<h3>Failures (${r.failures.length})</h3><ul class="failures">${r.failures.map((f) => `<li>${escape(f.at.slice(0, 19).replace('T', ' '))} — ${f.kind === 'drill' ? 'drill' : 'restore test'} ${escape(f.id)}, step ${escape(f.failedStep ?? '—')}: ${escape(f.cause ?? 'no cause recorded')}</li>`).join('')}</ul>` : ''}
  <h3>Every test</h3>
  <table><tr><th>ended (UTC)</th><th>test</th><th>outcome</th><th>RTO / target</th><th>RPO / target</th><th>evidence: event (log index)</th></tr>${r.tests.map(testRow).join('')}</table>
</section>`;

/** The recovery-testing report as a self-contained page (no scripts, no external assets), printable: one page per resource. */
export const renderRecoveryTestingHtml = (report: RecoveryTestingReport, head: SignedTreeHead | null): string => `<!doctype html>
<html lang="en"><head><meta charset="utf-8"><link rel="icon" href="data:,"><title>Recovery testing report ${escape(report.from.slice(0, 10))} – ${escape(report.to.slice(0, 10))}</title>
<style>
body{font:14px/1.45 system-ui,sans-serif;margin:2rem auto;max-width:62rem;color:#1d232a;padding:0 1rem}
h1{margin-bottom:.2rem}.sub{color:#5b6670;margin-top:0}
.head{background:#f4f6f8;border:1px solid #d8dee4;border-radius:6px;padding:.7rem 1rem;font:11px/1.5 ui-monospace,monospace;word-break:break-all}
.resource{border-top:1px solid #d8dee4;margin-top:1.5rem}
.badge{border-radius:3px;padding:0 .35rem;font-size:11px;margin-left:.2rem}.ok{background:#dcf5e3;color:#176b32}.bad{background:#fde2e1;color:#9b1c17}
.chart .axis{stroke:#8a959e}.chart .target{stroke:#d9822b;stroke-dasharray:5 4}.chart .trend{fill:none;stroke:#2266cc;stroke-width:1.5}
.chart .point.passed{fill:#2266cc}.chart .point.failed{fill:#c0342b}.chart .label{font-size:11px;fill:#5b6670}
table{border-collapse:collapse;font-size:12px}td,th{border-bottom:1px solid #e4e8ec;padding:.2rem .7rem .2rem 0;text-align:left;vertical-align:top}
.evidence{font:10px ui-monospace,monospace;color:#5b6670}
@media print{body{margin:0;max-width:none}.resource{break-before:page;border-top:none;margin-top:0}}
</style></head>
<body>
<h1>Recovery testing report</h1>
<p class="sub">${escape(report.from)} to ${escape(report.to)} · restore tests judged against RTO ${escape(formatDuration(report.targets.rtoMs))}, RPO ${escape(formatDuration(report.targets.rpoMs))}; drills against their own targets</p>
<section class="estate"><h2>Estate</h2>
<p>${report.estate.resources} resources tested · drills: ${report.estate.drills.total} (${report.estate.drills.passed} passed, ${report.estate.drills.failed} failed) · restore tests: ${report.estate.restoreTests.total} (${report.estate.restoreTests.passed} passed, ${report.estate.restoreTests.failed} failed) · ${report.estate.failures} failures${report.estate.resourcesWithoutDrill.length ? ` · no drill in the period: ${report.estate.resourcesWithoutDrill.map(escape).join(', ')}` : ''}</p>
<table><tr><th>resource</th><th>drills</th><th>restore tests</th><th>worst RTO</th><th>worst RPO</th><th>last drill</th></tr>${report.resources
  .map((r) => `<tr><td>${escape(r.resource)}</td><td>${r.drills.passed}/${r.drills.total}</td><td>${r.restoreTests.passed}/${r.restoreTests.total}</td><td>${escape(formatDuration(r.worstRtoMs))}</td><td>${escape(formatDuration(r.worstRpoMs))}</td><td>${r.lastDrill ? badge(r.lastDrill.outcome === 'passed', 'passed', 'failed') : '—'}</td></tr>`)
  .join('')}</table></section>
<div class="head">${head ? `Computed from the ledger up to signed tree head <b>${head.treeSize}</b><br>root ${escape(head.rootHash)}<br>signed ${escape(head.timestamp)} by key ${escape(head.keyId)}<br>signature ${escape(head.signature)}` : 'No signed tree head yet: the ledger is empty.'}</div>
${report.resources.length ? report.resources.map((r) => resourceSection(r, report)).join('\n') : '<p>No drill or restore test in the period.</p>'}
</body></html>
`;
