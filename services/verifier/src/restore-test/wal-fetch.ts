import { createHash, randomBytes, timingSafeEqual } from 'node:crypto';
import { createWriteStream } from 'node:fs';
import { chown, rename, rm, writeFile } from 'node:fs/promises';
import { createServer, type Server, type Socket } from 'node:net';
import { join } from 'node:path';
import { Readable, Transform } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { decryptStream, identitiesFor, zstdDecompress, type AgeIdentity } from '@continuity/artifacts';
import type { WalCopy } from '@continuity/contracts';
import { redactSecrets } from '@continuity/runtime';
import type { CopyReaders } from '../copies/copy-reader.js';
import type { ReplayFile } from './wal-replay.plan.js';

/** An archived WAL file with what fetching it needs: its copies, stored and plaintext digests, encryption. */
export interface FetchableFile extends ReplayFile {
  sha256: string;
  sizeBytes: number;
  plaintextSha256: string;
  plaintextSizeBytes: number;
  copies: WalCopy[];
  encryption: { recipients: string[] } | null;
}

/** Where PostgreSQL asks a restore_command to put what it fetched (`%p`, relative to the data directory). */
const DESTINATIONS = new Set(['pg_wal/RECOVERYXLOG', 'pg_wal/RECOVERYHISTORY']);

/**
 * The restore_command (run by the scratch server, as its OS user, in its data directory): reads
 * the plan (a 0600 JSON file: the fetch socket's name and a one-time token), asks the verifier
 * for one file and exits 0 once the verifier wrote it to `%p`, 1 otherwise (PostgreSQL then takes
 * it as "not archived": the end of the archive). Nothing secret in its argv.
 */
export const FETCH_SCRIPT = `'use strict';
const fs = require('node:fs');
const net = require('node:net');
const [plan, name, path] = process.argv.slice(2);
let reply = '';
try {
  const { socket, token, names } = JSON.parse(fs.readFileSync(plan, 'utf8'));
  if (!names.includes(name)) process.exit(1);
  const c = net.connect(socket, () => c.write(JSON.stringify({ token, name, path }) + '\\n'));
  c.setTimeout(600000, () => c.destroy());
  c.on('data', (d) => (reply += d));
  c.on('close', () => process.exit(reply.startsWith('ok') ? 0 : 1));
  c.on('error', () => process.exit(1));
} catch {
  process.exit(1);
}
`;

/** Quoted for the shell, with `%` doubled (PostgreSQL replaces %f, %p and %% in the command). */
const shellQuote = (s: string) => `'${s.replace(/'/g, `'\\''`).replace(/%/g, '%%')}'`;

/** Counts bytes and hashes them on the way, failing once more than `max` came. */
const tap = (max: number) => {
  const hash = createHash('sha256');
  let bytes = 0;
  const stream = new Transform({
    transform(chunk: Buffer, _encoding, callback) {
      bytes += chunk.length;
      if (bytes > max) return callback(new Error(`more than the ${max} bytes archived`));
      hash.update(chunk);
      callback(null, chunk);
    },
  });
  return { stream, digest: () => ({ sha256: hash.digest('hex'), sizeBytes: bytes }) };
};

export interface WalFetchServer {
  /** The restore_command to configure (paths only; the plan file holds the rest). */
  restoreCommand: string;
  /** Files fetched and handed to the server, and what went wrong on the way (a copy that failed and another used). */
  fetched: () => number;
  notes: () => string[];
  /** Finished files PostgreSQL asked for and no copy of which was good. */
  failures: () => string[];
  close(): Promise<void>;
}

/**
 * Serves the scratch server's restore_command from the verifier's own copy readers: each file is
 * read from a copy (local ones first), its stored bytes checked against the archived size and
 * SHA-256, decrypted when encrypted, decompressed, and its plaintext checked against the archived
 * SHA-256 and size before it is handed over (written to `%p` in the data directory, as the server's
 * OS user); a copy that fails is passed over for the next. Listens on an abstract Unix socket of a
 * random name, and answers only requests carrying the plan's token for a file in the plan.
 */
export const startWalFetchServer = async (input: {
  scratchDir: string;
  dataDir: string;
  files: readonly FetchableFile[];
  readers: CopyReaders;
  keys: () => readonly AgeIdentity[];
  owner: { uid: number; gid: number } | null;
  signal: AbortSignal;
}): Promise<WalFetchServer> => {
  const token = randomBytes(32).toString('hex');
  const tokenDigest = createHash('sha256').update(token).digest();
  /** Compared in constant time (digests of equal length, whatever was sent). */
  const sameToken = (sent: unknown) => typeof sent === 'string' && timingSafeEqual(createHash('sha256').update(sent).digest(), tokenDigest);
  const socket = `\0continuity-wal-fetch-${randomBytes(16).toString('hex')}`;
  const byName = new Map(input.files.map((f) => [f.name, f]));
  const notes: string[] = [];
  const failures: string[] = [];
  let fetched = 0;
  const localFirst = (copies: WalCopy[]) => [...copies].sort((a, b) => Number(!a.uri.startsWith('file:')) - Number(!b.uri.startsWith('file:')));

  const fetchTo = async (file: FetchableFile, destination: string) => {
    const problems: string[] = [];
    for (const copy of localFirst(file.copies)) {
      const temp = join(input.dataDir, 'pg_wal', `.continuity-fetch-${randomBytes(6).toString('hex')}`);
      try {
        const reader = input.readers.for(copy.uri);
        const stored = await reader.open(copy.uri, { signal: input.signal, limitBytes: file.sizeBytes });
        const storedTap = tap(file.sizeBytes);
        stored.on('error', (error) => storedTap.stream.destroy(error));
        stored.pipe(storedTap.stream);
        let plain: Readable = storedTap.stream;
        if (file.encryption) {
          const identities = identitiesFor(input.keys(), file.encryption.recipients);
          if (!identities.length) throw new Error(`encrypted to ${file.encryption.recipients.join(', ')} and no configured key matches`);
          plain = await decryptStream(storedTap.stream, identities, file.name);
        }
        const plainTap = tap(file.plaintextSizeBytes);
        await pipeline(plain, (source: AsyncIterable<Buffer>) => zstdDecompress(source), plainTap.stream, createWriteStream(temp, { mode: 0o600, flags: 'wx' }), { signal: input.signal });
        const s = storedTap.digest();
        const p = plainTap.digest();
        if (s.sha256 !== file.sha256 || s.sizeBytes !== file.sizeBytes) throw new Error(`stored bytes differ from the archived ones (SHA-256 ${s.sha256}, ${s.sizeBytes} bytes)`);
        if (p.sha256 !== file.plaintextSha256 || p.sizeBytes !== file.plaintextSizeBytes) throw new Error(`WAL file differs from the archived one (SHA-256 ${p.sha256}, ${p.sizeBytes} bytes)`);
        if (input.owner) await chown(temp, input.owner.uid, input.owner.gid);
        await rename(temp, destination);
        if (problems.length) notes.push(`${file.name} from ${copy.location} (${problems.join('; ')})`);
        return;
      } catch (error) {
        await rm(temp, { force: true });
        if (input.signal.aborted) throw error;
        problems.push(`${copy.location}: ${redactSecrets((error as Error).message)}`);
      }
    }
    // A partial shipment may have been superseded and removed meanwhile: said, not a failure (replay ends before it).
    notes.push(`${file.name}${file.partial ? ' (partial)' : ''}: no good copy (${problems.join('; ')})`);
    if (!file.partial) failures.push(file.name);
    throw new Error(`no good copy of ${file.name}`);
  };

  const clients = new Set<Socket>();
  const serve = (client: Socket) => {
    let line = '';
    clients.add(client);
    client.once('close', () => clients.delete(client));
    client.setEncoding('utf8');
    client.on('error', () => undefined);
    const onData = (chunk: string) => {
      line += chunk;
      if (line.length > 4096) return client.destroy();
      if (!line.includes('\n')) return;
      client.off('data', onData); // one request per connection
      void (async () => {
        try {
          const request = JSON.parse(line.slice(0, line.indexOf('\n'))) as { token?: unknown; name?: unknown; path?: unknown };
          const file = typeof request.name === 'string' ? byName.get(request.name) : undefined;
          if (!sameToken(request.token) || !file || typeof request.path !== 'string' || !DESTINATIONS.has(request.path)) return client.end('refused\n');
          await fetchTo(file, join(input.dataDir, request.path));
          fetched++;
          client.end('ok\n');
        } catch {
          client.end('missing\n');
        }
      })();
    };
    client.on('data', onData);
  };

  const server: Server = createServer(serve);
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(socket, () => resolve());
  });
  const planFile = join(input.scratchDir, 'wal-plan.json');
  const scriptFile = join(input.scratchDir, 'wal-fetch.cjs');
  await writeFile(planFile, JSON.stringify({ socket, token, names: [...byName.keys()] }), { mode: 0o600, flag: 'wx' });
  await writeFile(scriptFile, FETCH_SCRIPT, { mode: 0o500, flag: 'wx' });
  if (input.owner) {
    await chown(planFile, input.owner.uid, input.owner.gid);
    await chown(scriptFile, input.owner.uid, input.owner.gid);
  }
  return {
    restoreCommand: `${shellQuote(process.execPath)} ${shellQuote(scriptFile)} ${shellQuote(planFile)} %f %p`,
    fetched: () => fetched,
    notes: () => [...notes],
    failures: () => [...failures],
    // A connection left open (a restore_command killed mid-request) must not hold the restore test up.
    close: () =>
      new Promise<void>((resolve) => {
        server.close(() => resolve());
        for (const client of clients) client.destroy();
      }),
  };
};
