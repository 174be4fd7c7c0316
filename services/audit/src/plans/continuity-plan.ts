import type { CopyPlacement, ResourceState, SloTargets } from '../resource-state/resource-state.projection.js';
import type { SignedTreeHead } from '@continuity/contracts/ledger';
import type { Contact, Route } from '../notifications/notification.config.js';

/**
 * A business continuity plan for one resource, computed from configuration and ledger evidence.
 * Pure: the edges gather `PlanInput`; this file decides what the plan says and renders it.
 */
export interface DrillEvidence {
  eventId: string;
  occurredAt: string;
  outcome: string;
  kind: string | null;
  rtoMs: number | null;
  rpoMs: number | null;
  steps: { name: string; outcome: string; durationMs: number | null }[];
}

export interface RiskEvidence {
  eventId: string;
  rule: string;
  severity: string;
  mitigation: string | null;
  occurredAt: string;
}

export interface PlanInput {
  resource: string;
  generatedAt: string;
  targets: SloTargets;
  state: ResourceState | null;
  contacts: readonly Contact[];
  routes: readonly Route[];
  lastDrill: DrillEvidence | null;
  openRisks: readonly RiskEvidence[];
  signedHead: SignedTreeHead | null;
  /** Where the failover service listens, for the switchover command (default http://127.0.0.1:3003). */
  failoverUrl: string;
}

export interface PlanCopy extends CopyPlacement {
  backupId: string;
  recoveryPoint: string;
  verified: boolean;
}

export interface ContinuityPlan {
  resource: string;
  generatedAt: string;
  targets: { rpoMs: number; rtoMs: number; availability: number };
  recoveryPoint: { backupId: string; recoveryPoint: string; verifiedAt: string; restoreMs: number | null } | null;
  copies: PlanCopy[];
  threeTwoOne: { copies: number; media: number; sites: number; compliant: boolean } | null;
  procedures: { title: string; command: string; note: string }[];
  contacts: Contact[];
  channels: { channels: string[]; types: string[] | 'all'; minSeverity: string }[];
  lastDrill: DrillEvidence | null;
  openRisks: RiskEvidence[];
  failovers: { count: number; last: ResourceState['failovers'][number] | null };
  evidence: { treeSize: number; rootHash: string; timestamp: string; keyId: string } | null;
  gaps: string[];
}

const quote = (value: string) => (/^[A-Za-z0-9_./:@%+=-]+$/.test(value) ? value : `'${value.replace(/'/g, `'\\''`)}'`);

export const buildPlan = (input: PlanInput): ContinuityPlan => {
  const { state, resource } = input;
  const verified = state?.lastVerified ?? null;
  const copies: PlanCopy[] = [
    ...(verified ? verified.passedCopies.map((c) => ({ ...c, backupId: verified.backupId, recoveryPoint: verified.recoveryPoint, verified: true })) : []),
    // The newest backup not verified yet (the projection may still list the verified one as awaiting).
    ...[...(state?.awaitingVerdict ?? [])]
      .filter((b) => b.backupId !== verified?.backupId)
      .sort((a, b) => b.recoveryPoint.localeCompare(a.recoveryPoint))
      .slice(0, 1)
      .flatMap((b) => b.copies.map((c) => ({ ...c, backupId: b.backupId, recoveryPoint: b.recoveryPoint, verified: false }))),
  ];
  const known = verified?.backupId ?? state?.lastBackup?.backupId;
  const backupId = known ? quote(known) : '<backupId>';
  const failoverBase = input.failoverUrl.replace(/\/+$/, '');
  const procedures = [
    {
      title: 'Restore the newest verified recovery point',
      command: `continuity restore ${backupId} --to <restore target among ${resource}'s restoreTargets>`,
      note: 'Runs without the backup service (reads the catalogue and the copies directly); add --clean to replace an existing database.',
    },
    {
      title: 'Planned switchover to a standby',
      command: `curl -X POST -H "Authorization: Bearer $OPERATOR_TOKEN" -H 'content-type: application/json' -d '{"to":"<standby>"}' ${failoverBase}/failover/${resource}/switchover`,
      note: 'No data loss: the primary is made read-only and the standby promoted once it has replayed everything. Unplanned failover is automatic.',
    },
    {
      title: 'Check where clients are routed',
      command: `curl -H "Authorization: Bearer $VIEWER_TOKEN" ${failoverBase}/failover/${resource}`,
      note: 'Load balancers ask /failover/<resource>/members/<member>/primary and …/replica.',
    },
  ];
  const gaps: string[] = [];
  if (!verified) gaps.push('no verified recovery point in the ledger: a restore cannot be shown to work');
  if (verified && !verified.threeTwoOne.compliant) gaps.push('the newest verified recovery point does not meet 3-2-1');
  if (!input.lastDrill) gaps.push('no recovery drill in the ledger');
  else if (input.lastDrill.outcome !== 'passed') gaps.push(`the last drill ${input.lastDrill.outcome}`);
  if (input.contacts.length === 0) gaps.push('no contacts configured for this resource');
  if (input.routes.length === 0) gaps.push('no notification route covers this resource');
  if (!input.signedHead) gaps.push('no signed tree head yet: the evidence is not attested');
  const last = state?.failovers.at(-1) ?? null;
  return {
    resource,
    generatedAt: input.generatedAt,
    targets: { rpoMs: input.targets.rpoMs, rtoMs: input.targets.rtoMs, availability: input.targets.availability },
    recoveryPoint: verified ? { backupId: verified.backupId, recoveryPoint: verified.recoveryPoint, verifiedAt: verified.verifiedAt, restoreMs: verified.restoreMs } : null,
    copies,
    threeTwoOne: verified?.threeTwoOne ?? null,
    procedures,
    contacts: [...input.contacts],
    channels: input.routes.map((r) => ({ channels: [...r.channels], types: r.types ? [...r.types] : 'all', minSeverity: r.minSeverity })),
    lastDrill: input.lastDrill,
    openRisks: [...input.openRisks],
    failovers: { count: state?.failovers.length ?? 0, last },
    evidence: input.signedHead ? { treeSize: input.signedHead.treeSize, rootHash: input.signedHead.rootHash, timestamp: input.signedHead.timestamp, keyId: input.signedHead.keyId } : null,
    gaps,
  };
};

const ms = (value: number | null) => (value === null ? '—' : value >= 60_000 ? `${(value / 60_000).toFixed(1)} min` : `${(value / 1000).toFixed(1)} s`);
/** Markdown table cells: no pipes or line breaks from data. */
const cell = (value: unknown) => String(value ?? '—').replace(/\|/g, '\\|').replace(/[\r\n]+/g, ' ');

export const renderPlanMarkdown = (plan: ContinuityPlan): string => {
  const lines: string[] = [];
  const push = (...l: string[]) => lines.push(...l);
  push(`# Business continuity plan: ${plan.resource}`, '', `Generated ${plan.generatedAt} from the audit ledger.`, '');
  push('## Targets', '', `| RPO | RTO | availability |`, `|---|---|---|`, `| ${ms(plan.targets.rpoMs)} | ${ms(plan.targets.rtoMs)} | ${(plan.targets.availability * 100).toFixed(3)} % |`, '');
  push('## Recovery point and copies', '');
  if (plan.recoveryPoint) push(`Newest verified recovery point: **${plan.recoveryPoint.recoveryPoint}** (backup \`${plan.recoveryPoint.backupId}\`, verified ${plan.recoveryPoint.verifiedAt}, test restore ${ms(plan.recoveryPoint.restoreMs)}).`, '');
  else push('No verified recovery point.', '');
  if (plan.copies.length) {
    push('| location | site | medium | backup | recovery point | verified |', '|---|---|---|---|---|---|');
    for (const c of plan.copies) push(`| ${cell(c.location)} | ${cell(c.site)} | ${cell(c.medium)} | \`${cell(c.backupId)}\` | ${cell(c.recoveryPoint)} | ${c.verified ? 'yes' : 'not yet'} |`);
    push('');
  }
  if (plan.threeTwoOne) push(`3-2-1: ${plan.threeTwoOne.copies} copies, ${plan.threeTwoOne.media} media, ${plan.threeTwoOne.sites} sites — ${plan.threeTwoOne.compliant ? 'compliant' : '**not compliant**'}.`, '');
  push('## Procedures', '');
  plan.procedures.forEach((p, i) => push(`${i + 1}. **${p.title}**`, '', '   ```sh', `   ${p.command}`, '   ```', '', `   ${p.note}`, ''));
  push('## Who is told', '');
  if (plan.contacts.length) {
    push('| contact | role | email | phone |', '|---|---|---|---|');
    for (const c of plan.contacts) push(`| ${cell(c.name)} | ${cell(c.role)} | ${cell(c.email)} | ${cell(c.phone)} |`);
    push('');
  } else push('No contacts configured.', '');
  for (const r of plan.channels) push(`- channels ${r.channels.join(', ')}: ${r.types === 'all' ? 'every notified event' : r.types.join(', ')}, severity ≥ ${r.minSeverity}`);
  if (plan.channels.length) push('');
  push('## Last drill', '');
  if (plan.lastDrill) {
    const d = plan.lastDrill;
    push(`${d.occurredAt}: **${d.outcome}**${d.kind ? ` (${d.kind})` : ''}, RTO ${ms(d.rtoMs)}, RPO ${ms(d.rpoMs)} (event \`${d.eventId}\`).`, '');
    if (d.steps.length) {
      push('| step | outcome | duration |', '|---|---|---|');
      for (const s of d.steps) push(`| ${cell(s.name)} | ${cell(s.outcome)} | ${ms(s.durationMs)} |`);
      push('');
    }
  } else push('No drill recorded.', '');
  push('## Open risks', '');
  if (plan.openRisks.length) for (const r of plan.openRisks) push(`- **${cell(r.severity)}** ${cell(r.rule)}${r.mitigation ? ` — mitigation: ${cell(r.mitigation)}` : ''} (since ${r.occurredAt}, event \`${r.eventId}\`)`);
  else push('None recorded.');
  push('');
  push('## Failovers', '', plan.failovers.last ? `${plan.failovers.count} recorded; the last made ${plan.failovers.last.to} primary at ${plan.failovers.last.completedAt} (RTO ${ms(plan.failovers.last.rtoMs)}).` : 'None recorded.', '');
  if (plan.gaps.length) push('## Gaps', '', ...plan.gaps.map((g) => `- ${g}`), '');
  push('## Evidence', '');
  push(plan.evidence ? `Signed tree head: size ${plan.evidence.treeSize}, root \`${plan.evidence.rootHash}\`, signed ${plan.evidence.timestamp} with key \`${plan.evidence.keyId}\`. Verify with \`continuity-audit verify\`.` : 'No signed tree head yet.', '');
  return lines.join('\n');
};

const escapeHtml = (text: string) => text.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;').replace(/"/g, '&quot;').replace(/'/g, '&#39;');

/** The same plan as a self-contained HTML page (no scripts; everything from data escaped). */
export const renderPlanHtml = (plan: ContinuityPlan): string => {
  const md = renderPlanMarkdown(plan);
  // A small, safe Markdown subset: headings, lists, tables and code blocks, all escaped first.
  const out: string[] = [];
  let inCode = false;
  let inTable = false;
  const inline = (s: string) => escapeHtml(s).replace(/\*\*(.+?)\*\*/g, '<strong>$1</strong>').replace(/`([^`]+)`/g, '<code>$1</code>');
  for (const raw of md.split('\n')) {
    const line = raw.trimStart();
    if (line.startsWith('```')) {
      out.push(inCode ? '</code></pre>' : '<pre><code>');
      inCode = !inCode;
      continue;
    }
    if (inCode) {
      out.push(escapeHtml(line));
      continue;
    }
    if (line.startsWith('|')) {
      if (/^\|(-+\|)+$/.test(line)) continue;
      const cells = line.slice(1, -1).split(/(?<!\\)\|/).map((c) => inline(c.trim().replace(/\\\|/g, '|')));
      out.push(inTable ? `<tr>${cells.map((c) => `<td>${c}</td>`).join('')}</tr>` : `<table><tr>${cells.map((c) => `<th>${c}</th>`).join('')}</tr>`);
      inTable = true;
      continue;
    }
    if (inTable) {
      out.push('</table>');
      inTable = false;
    }
    if (line.startsWith('## ')) out.push(`<h2>${inline(line.slice(3))}</h2>`);
    else if (line.startsWith('# ')) out.push(`<h1>${inline(line.slice(2))}</h1>`);
    else if (line.startsWith('- ')) out.push(`<li>${inline(line.slice(2))}</li>`);
    else if (line) out.push(`<p>${inline(line)}</p>`);
  }
  if (inTable) out.push('</table>');
  return `<!doctype html><html lang="en"><head><meta charset="utf-8"><title>Continuity plan: ${escapeHtml(plan.resource)}</title><style>body{font-family:system-ui,sans-serif;max-width:60rem;margin:2rem auto;padding:0 1rem}table{border-collapse:collapse}td,th{border:1px solid #ccc;padding:.25rem .5rem;text-align:left}pre{background:#f4f4f4;padding:.5rem;overflow-x:auto}</style></head><body>${out.join('\n')}</body></html>`;
};
