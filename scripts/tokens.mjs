// Access tokens for a deployment: one random token a role (32 bytes, base64url), kept in clear in
// <dir>/tokens (mode 0600, made once, kept) and as SHA-256 hashes in <dir>/tokens.sha256 — the file
// the services read (CONTINUITY_TOKENS_FILE); a leaked copy of it grants nothing.
// `npm start` uses it for .continuity/; compose's one-shot `tokens` container runs
//   node scripts/tokens.mjs --out /tokens [--print]
// and prints them in its log (`docker compose logs tokens`).
import { createHash, randomBytes } from 'node:crypto';
import { chmodSync, existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';

export const ROLES = ['viewer', 'operator', 'auditor', 'admin'];

/** Makes (once) and reads `<dir>/tokens`, rewrites `<dir>/tokens.sha256`; returns the tokens and both paths. */
export function makeTokens(dir) {
  const file = join(dir, 'tokens');
  if (!existsSync(file)) {
    mkdirSync(dir, { recursive: true });
    const lines = ROLES.map((role) => `${role} ${role} ${randomBytes(32).toString('base64url')}`);
    writeFileSync(file, `# name role token (the services read only tokens.sha256)\n${lines.join('\n')}\n`, { mode: 0o600, flag: 'wx' });
  }
  chmodSync(file, 0o600);
  const tokens = readFileSync(file, 'utf8')
    .split('\n')
    .map((line) => line.replace(/#.*/, '').trim())
    .filter(Boolean)
    .map((line) => {
      const [name, role, token] = line.split(/\s+/);
      return { name, role, token };
    });
  const hashed = join(dir, 'tokens.sha256');
  const sha256 = (token) => createHash('sha256').update(token).digest('hex');
  writeFileSync(hashed, tokens.map((t) => `${t.name} ${t.role} ${sha256(t.token)}\n`).join(''), { mode: 0o600 });
  return { tokens, file, hashed };
}

if (import.meta.url === pathToFileURL(process.argv[1] ?? '').href) {
  const at = process.argv.indexOf('--out');
  if (at < 0 || !process.argv[at + 1]) {
    console.error('usage: node scripts/tokens.mjs --out <dir> [--print]');
    process.exit(2);
  }
  const { tokens, hashed } = makeTokens(process.argv[at + 1]);
  console.log(`tokens ready; the services read ${hashed}`);
  if (process.argv.includes('--print')) for (const { role, token } of tokens) console.log(`${role.padEnd(8)} ${token}`);
}
