import { escapeHtml as esc } from '../api/html.js';
import { formatDuration } from '../reports/continuity-report.html.js';
import type { OpenRisk, ResourceCondition, ResourceStatus, StatusView } from './status-view.js';

/** Where the status page lives and where its login form posts (exact paths). */
export const STATUS_PATH = '/';
export const LOGIN_PATH = '/session';
export const LOGOUT_PATH = '/session/end';
export const STATUS_REFRESH_SECONDS = 30;

const STYLE = `
body{font:15px/1.45 system-ui,sans-serif;margin:0;background:#f6f7f9;color:#1d2330}
header{background:#1d2330;color:#fff;padding:14px 24px;display:flex;gap:24px;align-items:baseline;flex-wrap:wrap}
header h1{font-size:19px;margin:0}header a{color:#a9c7ff}header form{margin-left:auto}
main{padding:18px 24px;max-width:1200px}
table{border-collapse:collapse;width:100%;background:#fff;box-shadow:0 1px 2px #0002}
th,td{padding:8px 10px;border-bottom:1px solid #e3e6eb;text-align:left;vertical-align:top}
th{background:#eef1f5;font-weight:600;font-size:13px}
.cond{display:inline-block;padding:2px 8px;border-radius:10px;font-size:12px;font-weight:600}
.protected{background:#d9f2e1;color:#11632d}.at-risk{background:#fff0cc;color:#7a5200}
.unverified{background:#e6e9ef;color:#3b4252}.down{background:#fbd5d5;color:#8c1414}
.muted{color:#6b7385;font-size:13px}.reasons{margin:4px 0 0;padding-left:18px;font-size:13px}
section{margin:22px 0}h2{font-size:16px;margin:0 0 8px}
.login{max-width:420px;margin:80px auto;background:#fff;padding:24px;box-shadow:0 1px 3px #0003}
.login input{width:100%;box-sizing:border-box;padding:8px;margin:8px 0;font:inherit}
.error{color:#8c1414}button{font:inherit;padding:6px 14px}
.empty{background:#fff;padding:16px}`;

const page = (title: string, body: string, refreshSeconds: number | null = null) => `<!doctype html>
<html lang="en"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width, initial-scale=1">${refreshSeconds ? `<meta http-equiv="refresh" content="${refreshSeconds}">` : ''}
<title>${esc(title)}</title><style>${STYLE}</style></head>
<body>${body}</body></html>`;

const LABEL: Record<ResourceCondition, string> = { protected: 'protected', 'at-risk': 'at risk', unverified: 'not verified yet', down: 'down' };
const time = (iso: string) => `<time datetime="${esc(iso)}">${esc(iso.slice(0, 19).replace('T', ' '))} UTC</time>`;
const bytes = (n: number) => (n < 1024 ? `${n} B` : n < 1024 ** 2 ? `${(n / 1024).toFixed(1)} KiB` : n < 1024 ** 3 ? `${(n / 1024 ** 2).toFixed(1)} MiB` : `${(n / 1024 ** 3).toFixed(2)} GiB`);
const enc = encodeURIComponent;

/**
 * Jaeger's search for the resource's spans (every publish and consume carries `continuity.resource`),
 * when the traces URL is a Jaeger search page; any other URL is linked as it is.
 */
export const tracesLink = (tracesUrl: string, resource: string): string => {
  const url = new URL(tracesUrl);
  if (!url.pathname.endsWith('/search')) return url.toString();
  url.searchParams.set('service', 'backup');
  url.searchParams.set('tags', JSON.stringify({ 'continuity.resource': resource }));
  return url.toString();
};

const row = (r: ResourceStatus, tracesUrl: string | null) => {
  const v = r.newestVerified;
  const rpo = r.rpoExposureMs === null ? '—' : `${formatDuration(r.rpoExposureMs)}<div class="muted">target ${esc(formatDuration(r.rpoTargetMs))}</div>`;
  const verified = v
    ? `${time(v.recoveryPoint)}<div class="muted">${v.copies} copies, ${v.media} media, ${v.sites} sites${v.compliant ? '' : ' (not 3-2-1)'}</div>`
    : '—';
  const backup = r.lastBackup ? `${time(r.lastBackup.createdAt)}<div class="muted">${esc(bytes(r.lastBackup.sizeBytes))}; last verdict ${esc(r.lastVerdict?.verdict ?? 'pending')}</div>` : '—';
  const restore = r.lastRestoreTest ? `${esc(formatDuration(r.lastRestoreTest.durationMs))}<div class="muted">${time(r.lastRestoreTest.at)}</div>` : '—';
  const failovers = r.failovers.outageSince
    ? `<strong>outage since</strong> ${time(r.failovers.outageSince)}`
    : r.failovers.count === 0
      ? '0'
      : `${r.failovers.count}${r.failovers.recent.map((f) => `<div class="muted">→ ${esc(f.to)} in ${esc(formatDuration(f.rtoMs))}, ${time(f.completedAt)}</div>`).join('')}`;
  const reasons = r.reasons.length ? `<ul class="reasons">${r.reasons.map((x) => `<li>${esc(x)}</li>`).join('')}</ul>` : '';
  const traces = tracesUrl ? ` · <a href="${esc(tracesLink(tracesUrl, r.resource))}" rel="noreferrer">traces</a>` : '';
  const proofs = `<a href="/audit/resources/${esc(enc(r.resource))}/state">state + proof</a> · <a href="/audit/events?resource=${esc(enc(r.resource))}">ledger entries</a>${traces}`;
  return `<tr data-resource="${esc(r.resource)}">
<td><strong class="name">${esc(r.resource)}</strong></td>
<td><span class="cond ${r.condition}">${esc(LABEL[r.condition])}</span>${reasons}</td>
<td class="rpo">${rpo}</td><td class="verified">${verified}</td><td>${backup}</td><td class="restore">${restore}</td><td class="failovers">${failovers}</td>
<td>${proofs}</td></tr>`;
};

// Risk register: rendered only when the ledger has one (view.risks not null); see status-view.ts.
const risksSection = (risks: OpenRisk[] | null) => {
  if (risks === null) return '';
  const body = risks.length
    ? `<table><thead><tr><th>resource</th><th>rule</th><th>severity</th><th>since</th><th>detail</th></tr></thead><tbody>${risks
        .map((k) => `<tr><td>${esc(k.resource)}</td><td>${esc(k.rule)}</td><td>${esc(k.severity)}</td><td>${time(k.since)}</td><td>${esc(k.detail)}</td></tr>`)
        .join('')}</tbody></table>`
    : '<div class="empty">No open risks.</div>';
  return `<section class="risks"><h2>Open risks</h2>${body}</section>`;
};

/** The estate page: every resource's continuity state, from the projection, judged at the view's time. */
export const renderStatusPage = (view: StatusView, caller: { name: string; role: string }, signedIn: boolean) => {
  const summary = view.resources.reduce<Record<string, number>>((acc, r) => ((acc[r.condition] = (acc[r.condition] ?? 0) + 1), acc), {});
  const head = view.head ? `ledger: signed tree head over ${view.head.treeSize} entries, ${time(view.head.timestamp)}` : 'ledger: no signed tree head yet';
  const links = [
    `<a href="/audit/reports/continuity?format=html">continuity report</a>`,
    `<a href="/audit/tree-heads/latest">latest signed head</a>`,
    view.tracesUrl ? `<a href="${esc(view.tracesUrl)}" rel="noreferrer">traces</a>` : '',
    `<a href="/metrics">metrics</a>`,
  ].filter(Boolean);
  const table = view.resources.length
    ? `<table class="resources"><thead><tr><th>resource</th><th>state</th><th>RPO exposure</th><th>newest verified recovery point</th><th>last backup</th><th>last restore test</th><th>failovers</th><th>proofs and traces</th></tr></thead>
<tbody>${view.resources.map((r) => row(r, view.tracesUrl)).join('\n')}</tbody></table>`
    : '<div class="empty">No resource in the ledger yet: the first backup of a protected resource appears here once the audit service has recorded it.</div>';
  return page(
    'Continuity — estate status',
    `<header><h1>Continuity estate</h1><span>${links.join(' · ')}</span>
<span class="muted">${Object.entries(summary).map(([k, n]) => `${n} ${esc(LABEL[k as ResourceCondition])}`).join(', ') || 'no resources'}</span>
${signedIn ? `<form method="post" action="${LOGOUT_PATH}"><button type="submit">sign out ${esc(caller.name)}</button></form>` : `<span class="muted">as ${esc(caller.name)} (${esc(caller.role)})</span>`}</header>
<main><p class="muted head">${head}; page computed ${time(view.generatedAt)}. Reports and proofs need an auditor or operator token.</p>
${table}
${risksSection(view.risks)}
</main>`,
    // Reloads itself: a newcomer watching for the first verified backup needs nothing but to look.
    STATUS_REFRESH_SECONDS,
  );
};

/** The one form: a token in, a session cookie out. The token is never written back into the page. */
export const renderLoginPage = (message: string | null) =>
  page(
    'Continuity — sign in',
    `<form class="login" method="post" action="${LOGIN_PATH}"><h1>Continuity estate</h1>
<p>Paste a viewer, auditor, operator or admin token (from <code>.continuity/tokens</code> under <code>npm start</code>).</p>
${message ? `<p class="error" role="alert">${esc(message)}</p>` : ''}
<label for="token">token</label><input id="token" name="token" type="password" autocomplete="off" required maxlength="512" autofocus>
<button type="submit">Sign in</button></form>`,
  );
