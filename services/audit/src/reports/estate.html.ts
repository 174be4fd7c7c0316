import { escapeHtml } from '../api/html.js';
import { formatDuration } from './continuity-report.html.js';
import type { Estate, EstateRow } from './estate.js';

/** Lists at most this many risks in the page (the JSON and GET /audit/risks have them all). */
const MAX_LISTED_RISKS = 500;

const when = (iso: string | null | undefined) => (iso ? escapeHtml(iso.slice(0, 19).replace('T', ' ')) : '—');

const row = (r: EstateRow) => `<tr class="${r.status}" data-resource="${escapeHtml(r.resource)}"><td><a href="#r-${escapeHtml(r.resource)}">${escapeHtml(r.resource)}</a></td><td><span class="badge ${r.status === 'ok' ? 'ok' : 'bad'}">${escapeHtml(r.status)}${r.breachedSlos.length ? ` (${escapeHtml(r.breachedSlos.join(', '))})` : ''}</span></td><td>${escapeHtml(formatDuration(r.rpoAchievedMs))}</td><td>${when(r.lastVerifiedPoint)}</td><td>${r.recoverableWindow ? `${when(r.recoverableWindow.earliest)} → ${when(r.recoverableWindow.latest)}${r.recoverableWindow.walBased ? ' (WAL)' : ''}` : '—'}</td><td>${r.lastDrill ? `${when(r.lastDrill.at)} ${r.lastDrill.passed ? 'passed' : 'failed'}` : 'never'}</td><td>${r.openRisks ? `${r.openRisks} (worst ${escapeHtml(r.worstRisk ?? '')})` : '0'}</td></tr>`;

/**
 * The lead of the continuity report: the open risks, worst first, then one table of every
 * resource (status, RPO achieved, last verified point, recoverable window, last drill, risks).
 * Built from the stored projections, so it stays fast with thousands of resources.
 */
export const renderEstateHtml = (estate: Estate): string => `
<section id="risks"><h2>Risks (${estate.risks.length})</h2>
${estate.risks.length ? `<table class="risks"><tr><th>severity</th><th>resource</th><th>rule</th><th>finding</th><th>mitigation</th></tr>${estate.risks
  .slice(0, MAX_LISTED_RISKS)
  .map((f) => `<tr><td><span class="badge ${f.severity === 'low' ? 'ok' : 'bad'}">${escapeHtml(f.severity)}</span></td><td>${escapeHtml(f.resource)}</td><td>${escapeHtml(f.rule)}</td><td>${escapeHtml(f.summary)}</td><td>${escapeHtml(f.mitigation)}</td></tr>`)
  .join('')}</table>${estate.risks.length > MAX_LISTED_RISKS ? `<p>… and ${estate.risks.length - MAX_LISTED_RISKS} more (GET /audit/risks)</p>` : ''}` : '<p>No open risk.</p>'}
</section>
<section id="estate"><h2>Estate (${estate.rows.length} resources, as of ${when(estate.at)})</h2>
<table class="estate"><tr><th>resource</th><th>status</th><th>RPO achieved</th><th>last verified point</th><th>recoverable window</th><th>last drill</th><th>open risks</th></tr>
${estate.rows.map(row).join('\n')}
</table></section>`;

/** Per resource, the lines the detail section adds: recoverable window, RPO exposure by copies, last verified point-in-time restore. */
export const renderProtectionFacts = (r: EstateRow): string => `
  <div class="facts protection">
    <div><b>Recoverable window</b>${r.recoverableWindow ? `${when(r.recoverableWindow.earliest)} → ${when(r.recoverableWindow.latest)}${r.recoverableWindow.walBased ? ' (WAL)' : ''}` : '—'}</div>
    <div><b>RPO exposure now</b>${escapeHtml(formatDuration(r.rpoExposure.threeCopiesMs))} in ≥ 3 copies · ${escapeHtml(formatDuration(r.rpoExposure.oneCopyMs))} in ≥ 1${r.rpoExposure.walBased ? ' (WAL-based)' : ''}</div>
    <div><b>Last verified point-in-time restore</b>${r.lastVerifiedPitr ? `${when(r.lastVerifiedPitr.at)} to ${when(r.lastVerifiedPitr.point)} in ${escapeHtml(formatDuration(r.lastVerifiedPitr.restoreMs))}` : '—'}</div>
  </div>`;
