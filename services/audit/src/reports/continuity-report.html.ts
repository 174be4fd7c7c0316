import { escapeHtml } from '../api/html.js';
import type { SignedTreeHead } from '@continuity/contracts/ledger';
import type { ContinuityReport, ResourceReport, RpoPoint } from './continuity-report.js';

export const formatDuration = (ms: number | null): string => {
  if (ms === null) return '—';
  if (ms < 1_000) return `${Math.round(ms)} ms`;
  if (ms < 120_000) return `${(ms / 1_000).toFixed(1)} s`;
  if (ms < 7_200_000) return `${(ms / 60_000).toFixed(1)} min`;
  if (ms < 172_800_000) return `${(ms / 3_600_000).toFixed(1)} h`;
  return `${(ms / 86_400_000).toFixed(1)} d`;
};
const percent = (ratio: number) => `${(ratio * 100).toFixed(ratio >= 0.999 ? 4 : 2)} %`;
const badge = (ok: boolean, yes: string, no: string) => `<span class="badge ${ok ? 'ok' : 'bad'}">${escapeHtml(ok ? yes : no)}</span>`;

/** RPO exposure over the window as an inline SVG line chart, with the target as a dashed line. */
const rpoChart = (series: RpoPoint[], targetMs: number, from: string, to: string, now: Date): string => {
  const width = 640;
  const height = 160;
  const pad = 36;
  const x0 = Date.parse(from);
  const x1 = Math.max(x0 + 1, Math.min(Date.parse(to), now.getTime()));
  const maxY = Math.max(targetMs * 1.5, ...series.map((p) => p.exposureMs));
  const x = (at: string) => pad + ((Date.parse(at) - x0) / (x1 - x0)) * (width - 2 * pad);
  const y = (ms: number) => height - pad / 2 - (ms / maxY) * (height - pad);
  const points = series.map((p) => `${x(p.at).toFixed(1)},${y(p.exposureMs).toFixed(1)}`).join(' ');
  return `<svg class="chart" role="img" aria-label="RPO exposure over time" viewBox="0 0 ${width} ${height}" width="${width}" height="${height}">
  <line x1="${pad}" y1="${y(0)}" x2="${width - pad}" y2="${y(0)}" class="axis"/>
  <line x1="${pad}" y1="${y(targetMs)}" x2="${width - pad}" y2="${y(targetMs)}" class="target"/>
  <text x="${width - pad}" y="${y(targetMs) - 4}" text-anchor="end" class="label">target ${escapeHtml(formatDuration(targetMs))}</text>
  <text x="${pad}" y="${height - 2}" class="label">${escapeHtml(from.slice(0, 16).replace('T', ' '))}</text>
  <text x="${width - pad}" y="${height - 2}" text-anchor="end" class="label">${escapeHtml(new Date(x1).toISOString().slice(0, 16).replace('T', ' '))}</text>
  <text x="4" y="${y(maxY) + 10}" class="label">${escapeHtml(formatDuration(maxY))}</text>
  ${series.length ? `<polyline points="${points}" class="rpo"/>` : `<text x="${width / 2}" y="${height / 2}" text-anchor="middle" class="label">no verified recovery point</text>`}
</svg>`;
};

const resourceSection = (r: ResourceReport, report: ContinuityReport, now: Date, extra: string) => `
<section class="resource" id="r-${escapeHtml(r.resource)}" data-resource="${escapeHtml(r.resource)}">
  <h2>${escapeHtml(r.resource)}</h2>${extra}
  <div class="facts">
    <div><b>RPO achieved</b>${escapeHtml(formatDuration(r.rpoAchievedMs))} ${badge(!r.rpoBreached, 'within target', 'breached')}<br><small>worst gap between verified recovery points ${escapeHtml(formatDuration(r.worstRecoveryPointGapMs))}</small></div>
    <div><b>Backups</b>${r.backups.taken} taken · ${r.backups.verified} verified · ${r.backups.failedVerification} failed verification · ${r.backups.failed} failed · ${r.backups.expired} expired</div>
    <div><b>3-2-1</b>${r.threeTwoOne ? `${r.threeTwoOne.copies} copies, ${r.threeTwoOne.media} media, ${r.threeTwoOne.sites} sites ${badge(r.threeTwoOne.compliant, 'compliant', 'not compliant')}` : '—'}</div>
    <div><b>Failovers</b>${r.failovers.length} · worst RTO ${escapeHtml(formatDuration(r.worstRtoMs))} ${r.worstRtoMs === null ? '' : badge(r.worstRtoMs <= report.targets.rtoMs, 'within target', 'breached')}</div>
    <div><b>Availability</b>${percent(r.availability)} ${badge(r.availability >= report.targets.availability, 'within target', 'breached')}</div>
  </div>
  <h3>RPO exposure</h3>
  ${rpoChart(r.rpoSeries, report.targets.rpoMs, report.from, report.to, now)}
  ${r.failovers.length ? `<h3>Failovers</h3><table><tr><th>completed</th><th>new primary</th><th>RTO</th><th>lag at promotion</th></tr>${r.failovers.map((f) => `<tr><td>${escapeHtml(f.at)}</td><td>${escapeHtml(f.newPrimary)}</td><td>${escapeHtml(formatDuration(f.rtoMs))}</td><td>${f.lagBytes ?? '—'} bytes</td></tr>`).join('')}</table>` : ''}
  ${r.sloBreaches.length ? `<h3>SLO breaches (${r.sloBreaches.length})</h3><ul class="breaches">${r.sloBreaches.slice(-20).map((b) => `<li>${escapeHtml(b.at)} — ${escapeHtml(b.kind.toUpperCase())} ${escapeHtml(formatDuration(b.valueMs))} (target ${escapeHtml(formatDuration(b.targetMs))}): ${escapeHtml(b.detail)}</li>`).join('')}${r.sloBreaches.length > 20 ? `<li>… and ${r.sloBreaches.length - 20} earlier</li>` : ''}</ul>` : ''}
</section>`;

/** The continuity report as a self-contained HTML page (no scripts, no external assets). */
export const renderContinuityReportHtml = (
  report: ContinuityReport,
  head: SignedTreeHead | null,
  /** `intact` and `checkedAt` are null while no check has completed (then `failedToRun` says why). */
  integrity: { intact: boolean | null; checkedAt: string | null; findings: { kind: string; detail: string }[]; failedToRun?: { at: string; error: string } } | null,
  now: Date,
  /** Shown before the resources (the estate and its risks), and per resource after its heading. */
  lead: { html: string; perResource: ReadonlyMap<string, string> } = { html: '', perResource: new Map() },
): string => `<!doctype html>
<html lang="en"><head><meta charset="utf-8"><link rel="icon" href="data:,"><title>Continuity report ${escapeHtml(report.from.slice(0, 10))} – ${escapeHtml(report.to.slice(0, 10))}</title>
<style>
body{font:15px/1.45 system-ui,sans-serif;margin:2rem auto;max-width:60rem;color:#1d232a;padding:0 1rem}
h1{margin-bottom:.2rem}.sub{color:#5b6670;margin-top:0}
.head{background:#f4f6f8;border:1px solid #d8dee4;border-radius:6px;padding:.7rem 1rem;font:12px/1.5 ui-monospace,monospace;word-break:break-all}
.resource{border-top:1px solid #d8dee4;margin-top:1.5rem}
.facts{display:grid;grid-template-columns:repeat(auto-fill,minmax(17rem,1fr));gap:.4rem 1.5rem}.facts b{display:block;color:#5b6670;font-weight:600;font-size:12px;text-transform:uppercase}
.badge{border-radius:3px;padding:0 .35rem;font-size:12px;margin-left:.3rem}.ok{background:#dcf5e3;color:#176b32}.bad{background:#fde2e1;color:#9b1c17}
.chart .axis{stroke:#8a959e}.chart .target{stroke:#d9822b;stroke-dasharray:5 4}.chart .rpo{fill:none;stroke:#2266cc;stroke-width:2}.chart .label{font-size:11px;fill:#5b6670}
table{border-collapse:collapse}td,th{border-bottom:1px solid #e4e8ec;padding:.2rem .8rem .2rem 0;text-align:left}
.alert{background:#fde2e1;border:1px solid #f0a9a6;padding:.7rem 1rem;border-radius:6px}
</style></head>
<body>
<h1>Continuity report</h1>
<p class="sub">${escapeHtml(report.from)} to ${escapeHtml(report.to)} · targets: RPO ${escapeHtml(formatDuration(report.targets.rpoMs))}, RTO ${escapeHtml(formatDuration(report.targets.rtoMs))}, availability ${percent(report.targets.availability)}</p>
${integrity?.findings.length ? `<p class="alert"><b>Ledger tampering detected</b> (checked ${escapeHtml(integrity.checkedAt ?? '')}): ${integrity.findings.slice(0, 5).map((f) => escapeHtml(`${f.kind}: ${f.detail}`)).join('; ')}</p>` : ''}
${integrity?.failedToRun ? `<p class="alert"><b>The ledger's tamper check failed to run</b> at ${escapeHtml(integrity.failedToRun.at)} (${escapeHtml(integrity.failedToRun.error)}); ${integrity.checkedAt ? `the last complete check is from ${escapeHtml(integrity.checkedAt)}` : 'no check has completed yet'}. It is retried until it runs.</p>` : ''}
<div class="head">${head ? `Computed from the ledger up to signed tree head <b>${head.treeSize}</b><br>root ${escapeHtml(head.rootHash)}<br>signed ${escapeHtml(head.timestamp)} by key ${escapeHtml(head.keyId)}<br>signature ${escapeHtml(head.signature)}` : 'No signed tree head yet: the ledger is empty.'}</div>
${lead.html}
${report.resources.length ? report.resources.map((r) => resourceSection(r, report, now, lead.perResource.get(r.resource) ?? '')).join('\n') : '<p>No resource has any event in the ledger.</p>'}
</body></html>
`;
