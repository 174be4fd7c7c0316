import { parseArgs } from 'node:util';
import { Client } from 'pg';
import { RESOURCE_PATTERN } from '@continuity/contracts';
import { redactSecrets } from '@continuity/runtime';
import { planCliEnvSchema } from '../config/audit.config.js';
import { contactsFor, loadNotificationsConfig, routesFor } from '../notifications/notification.config.js';
import { buildPlan, renderPlanHtml, renderPlanMarkdown } from './continuity-plan.js';
import { readLedgerEvidence } from './plan.evidence.js';

const USAGE = `continuity-audit plan <resource> [--format markdown|html|json]

Prints the resource's business continuity plan from the ledger in DATABASE_URL (read directly: the
audit service need not run) and the notifications file in AUDIT_NOTIFICATIONS_FILE (contacts and
channels). Targets from AUDIT_RPO_TARGET_MS, AUDIT_RTO_TARGET_MS, AUDIT_AVAILABILITY_TARGET.
Exit code 0 with a plan, 1 when it cannot be made, 2 on bad usage.`;

/** `continuity-audit plan`: the same plan as `GET /audit/resources/{r}/plan`, without the service. */
export const runPlanCli = async (argv: string[], env: NodeJS.ProcessEnv = process.env, out = process.stdout, err = process.stderr): Promise<number> => {
  let args: { resource: string; format: 'markdown' | 'html' | 'json' };
  try {
    const { values, positionals } = parseArgs({ args: argv, options: { format: { type: 'string', default: 'markdown' } }, allowPositionals: true, strict: true });
    const [resource] = positionals;
    if (!resource || positionals.length > 1 || !RESOURCE_PATTERN.test(resource)) throw new Error('give exactly one resource name (letters, digits, _ and -)');
    if (!['markdown', 'html', 'json'].includes(values.format!)) throw new Error('--format must be markdown, html or json');
    args = { resource, format: values.format as 'markdown' | 'html' | 'json' };
  } catch (error) {
    err.write(`${(error as Error).message}\n\n${USAGE}\n`);
    return 2;
  }
  const config = planCliEnvSchema.safeParse(env);
  if (!config.success) {
    err.write(`invalid configuration: ${config.error.issues.map((i: { path: PropertyKey[]; message: string }) => `${i.path.join('.')}: ${i.message}`).join('; ')}\n`);
    return 2;
  }
  const client = new Client({ connectionString: config.data.DATABASE_URL, application_name: 'continuity-audit plan' });
  try {
    const settings = await loadNotificationsConfig(config.data.AUDIT_NOTIFICATIONS_FILE);
    await client.connect();
    const evidence = await readLedgerEvidence(async (sql, params) => (await client.query(sql, params)).rows, args.resource);
    const plan = buildPlan({
      resource: args.resource,
      generatedAt: new Date().toISOString(),
      targets: { rpoMs: config.data.AUDIT_RPO_TARGET_MS, rtoMs: config.data.AUDIT_RTO_TARGET_MS, availability: config.data.AUDIT_AVAILABILITY_TARGET },
      contacts: contactsFor(settings, args.resource),
      routes: routesFor(settings, args.resource),
      failoverUrl: config.data.AUDIT_FAILOVER_URL,
      ...evidence,
    });
    out.write(args.format === 'json' ? `${JSON.stringify(plan, null, 2)}\n` : args.format === 'html' ? renderPlanHtml(plan) : renderPlanMarkdown(plan));
    return 0;
  } catch (error) {
    err.write(`cannot make the plan: ${redactSecrets((error as Error).message)}\n`);
    return 1;
  } finally {
    await client.end().catch(() => undefined);
  }
};
