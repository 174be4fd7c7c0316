import { readFileSync } from 'node:fs';
import { parseArgs } from 'node:util';
import { pemBlocks } from '@continuity/contracts/ledger';
import { verifyOffline, VerifyInput } from './offline-verify.js';

const USAGE = `continuity-audit verify — check the audit ledger without the service or its database

  --export FILE        an export (GET /audit/export): entries, signed heads, the ledger's public keys
  --public-key FILE    Ed25519 public key(s) (PEM) of the ledger, obtained separately (recommended);
                       repeatable, and a file may hold several. Each head is checked with the key
                       it names; a key the export introduces counts when a trusted key attested it
  --head FILE          a signed tree head (GET /audit/tree-heads/latest) to check against
  --inclusion FILE     an event with its inclusion proof (GET /audit/events/{id})
  --consistency FILE   a consistency proof (GET /audit/proofs/consistency?from=&to=)
  --old-head FILE      the signed head at the proof's "from" size (with --consistency)
  --json               print the checks as JSON

Exit code 0 when every check passes, 1 when any fails, 2 on bad usage.`;

const readJson = (file: string, what: string) => {
  try {
    return JSON.parse(readFileSync(file, 'utf8'));
  } catch (error) {
    throw new UsageError(`cannot read ${what} from ${file}: ${(error as Error).message}`);
  }
};

class UsageError extends Error {}

export const runCli = (argv: string[], out = process.stdout, err = process.stderr): number => {
  try {
    const [command, ...rest] = argv;
    if (command !== 'verify') throw new UsageError(command ? `unknown command ${command}` : 'missing command');
    const { values } = parseArgs({
      args: rest,
      options: {
        export: { type: 'string' },
        'public-key': { type: 'string', multiple: true },
        head: { type: 'string' },
        inclusion: { type: 'string' },
        consistency: { type: 'string' },
        'old-head': { type: 'string' },
        json: { type: 'boolean', default: false },
      },
      strict: true,
    });
    if (!values.export && !values.inclusion && !values.consistency) throw new UsageError('give at least one of --export, --inclusion, --consistency');
    if (values.consistency && !values['old-head']) throw new UsageError('--consistency needs --old-head');
    const input: VerifyInput = {
      exported: values.export ? readJson(values.export, 'the export') : undefined,
      publicKeyPems: values['public-key']?.flatMap((file) => pemBlocks(readFileSync(file, 'utf8'))),
      head: values.head ? readJson(values.head, 'the tree head') : undefined,
      inclusion: values.inclusion ? readJson(values.inclusion, 'the inclusion proof') : undefined,
      consistency: values.consistency
        ? { evidence: readJson(values.consistency, 'the consistency proof'), oldHead: readJson(values['old-head']!, 'the older tree head') }
        : undefined,
    };
    const checks = verifyOffline(input);
    const ok = checks.every((c) => c.ok);
    if (values.json) out.write(`${JSON.stringify({ ok, checks })}\n`);
    else {
      for (const check of checks) out.write(`${check.ok ? '✓' : '✗'} ${check.what}\n`);
      out.write(ok ? 'verified\n' : 'VERIFICATION FAILED\n');
    }
    return ok ? 0 : 1;
  } catch (error) {
    err.write(`${error instanceof UsageError || (error as { code?: string }).code?.startsWith('ERR_PARSE_ARGS') ? (error as Error).message : (error as Error).stack}\n\n${USAGE}\n`);
    return 2;
  }
};
