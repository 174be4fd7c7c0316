import { readFileSync, writeFileSync } from 'node:fs';
import { parseArgs } from 'node:util';

const USAGE = `continuity-audit report recovery-testing — fetch the recovery-testing report from the audit service

  --url URL            the audit service (default: $CONTINUITY_AUDIT_URL or http://127.0.0.1:3004)
  --format FORMAT      json (default), html or pdf
  --from TIME          start of the period (ISO-8601; default: 90 days before --to)
  --to TIME            end of the period (default: now)
  --out FILE           write the report to FILE (default: standard output; a PDF needs --out)

The bearer token (role viewer or auditor) comes from $CONTINUITY_TOKEN or the file named by
$CONTINUITY_TOKEN_FILE, never from the command line (argv is visible to every local user).
Exit code 0 when the report was written, 1 when the service refused or failed, 2 on bad usage.`;

class UsageError extends Error {}

const tokenOf = (env: NodeJS.ProcessEnv): string => {
  if (env.CONTINUITY_TOKEN) return env.CONTINUITY_TOKEN.trim();
  if (env.CONTINUITY_TOKEN_FILE) return readFileSync(env.CONTINUITY_TOKEN_FILE, 'utf8').trim();
  throw new UsageError('set CONTINUITY_TOKEN (or CONTINUITY_TOKEN_FILE) to a viewer or auditor token');
};

/** `continuity-audit report recovery-testing …`: the report as the API serves it, to a file or stdout. */
export const runReportCli = async (argv: string[], env: NodeJS.ProcessEnv = process.env, out = process.stdout, err = process.stderr): Promise<number> => {
  try {
    const [report, ...rest] = argv;
    if (report !== 'recovery-testing') throw new UsageError(report ? `unknown report ${report}` : 'missing report name (recovery-testing)');
    const { values } = parseArgs({
      args: rest,
      options: { url: { type: 'string' }, format: { type: 'string', default: 'json' }, from: { type: 'string' }, to: { type: 'string' }, out: { type: 'string' } },
      strict: true,
    });
    if (!['json', 'html', 'pdf'].includes(values.format!)) throw new UsageError(`--format must be json, html or pdf (got ${values.format})`);
    if (values.format === 'pdf' && !values.out) throw new UsageError('a PDF needs --out FILE');
    const base = values.url ?? env.CONTINUITY_AUDIT_URL ?? 'http://127.0.0.1:3004';
    const url = new URL('/audit/reports/recovery-testing', base);
    url.searchParams.set('format', values.format!);
    if (values.from) url.searchParams.set('from', values.from);
    if (values.to) url.searchParams.set('to', values.to);
    const res = await fetch(url, { headers: { authorization: `Bearer ${tokenOf(env)}` } });
    const body = Buffer.from(await res.arrayBuffer());
    if (!res.ok) {
      err.write(`the audit service answered ${res.status}: ${body.toString('utf8').slice(0, 2_000)}\n`);
      return 1;
    }
    if (values.out) writeFileSync(values.out, body, { mode: 0o644 });
    else out.write(body);
    return 0;
  } catch (error) {
    const usage = error instanceof UsageError || (error as { code?: string }).code?.startsWith('ERR_PARSE_ARGS');
    err.write(usage ? `${(error as Error).message}\n\n${USAGE}\n` : `${(error as Error).message}\n`);
    return usage ? 2 : 1;
  }
};
