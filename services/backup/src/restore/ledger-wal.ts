import { continuityEvents, WalArchivedV1Schema } from '@continuity/contracts';
import { entryInHead, verifyEntriesInHead, verifyHeadWithPinnedKeys, type EntriesProof, type LedgerKey, type ServedEntry, type SignedTreeHead } from '@continuity/contracts/ledger';
import { RestoreError } from './restore.errors.js';
import type { LedgerBaseBackup, LedgerWalVersion } from './ledger-check.policy.js';

/**
 * The `WalArchived` and `BackupCreated` events the audit ledger holds for a resource, read page by
 * page from the audit service (`GET /audit/events?resource=…&type=…`, a viewer or auditor token).
 * Entries the ledger recorded but did not act on (`untrusted`: an unknown or unauthorized
 * source) are not evidence and are skipped. Bounded: at most `maxEvents` events and
 * `maxPageBytes` per page; a ledger that cannot be read fails the restore (the operator asked for
 * the check), saying why, never with the token.
 *
 * With pinned keys (`--ledger-key`) the answer itself is not believed either
 * ([decision 0043](../../../../docs/decisions/0043-restore-verifies-the-ledgers-answer.md)): one
 * signed tree head, checked with a pinned key (or a key a pinned key attested in the ledger's key
 * history), and every page of events asked within that head's tree with one multi-leaf inclusion
 * proof; each envelope is hashed again here. An answer that does not prove out refuses the restore
 * (`RESTORE.LEDGER_UNVERIFIED`) before anything is written.
 */

export interface LedgerWal {
  /** What the WalArchived events recorded (`events` read, `untrusted` skipped). */
  versions: LedgerWalVersion[];
  /** What each base backup's `BackupCreated` recorded; how many such events were read, and skipped as untrusted. */
  baseBackups: LedgerBaseBackup[];
  baseBackupEvents: number;
  baseBackupsUntrusted: number;
  events: number;
  untrusted: number;
  source: string;
  /** The signed head every event read was proven in (pinned keys given); null: the answer was taken as given. */
  verified: { treeSize: number; rootHash: string; timestamp: string; keyId: string; entriesProven: number } | null;
}

const PAGE = 1_000;
const LOOPBACK_HOSTS = new Set(['localhost', '127.0.0.1', '[::1]']);
const fail = (message: string) => new RestoreError('RESTORE.LEDGER_UNAVAILABLE', message, { status: 502 });
const unverified = (message: string, details: Record<string, unknown> = {}) => new RestoreError('RESTORE.LEDGER_UNVERIFIED', message, { status: 502, details });

/** The audit service's base URL: http(s), with no credentials in it (argv is visible to every local user). */
export const ledgerBaseUrl = (text: string): URL => {
  let url: URL;
  try {
    url = new URL(text);
  } catch {
    throw new RestoreError('RESTORE.LEDGER_URL_INVALID', `--ledger ${JSON.stringify(text.slice(0, 200))} is not a URL (e.g. https://audit.example:3004, or http://127.0.0.1:3004 on this machine)`, { status: 400 });
  }
  if (url.protocol !== 'http:' && url.protocol !== 'https:') throw new RestoreError('RESTORE.LEDGER_URL_INVALID', `--ledger must be an http(s) URL, not ${url.protocol}`, { status: 400 });
  if (url.username || url.password) throw new RestoreError('RESTORE.LEDGER_URL_INVALID', '--ledger must not hold credentials: the token comes from CONTINUITY_AUDIT_TOKEN', { status: 400 });
  // The token goes with every page, and the answer decides which WAL is trusted: in clear only on this machine.
  if (url.protocol === 'http:' && !LOOPBACK_HOSTS.has(url.hostname)) {
    throw new RestoreError('RESTORE.LEDGER_URL_INVALID', `--ledger must be https:// for a host other than this machine (${url.hostname}): the token and the ledger's answer must not cross the network in clear`, { status: 400 });
  }
  url.search = '';
  url.hash = '';
  return url;
};

const readBounded = async (res: Response, maxBytes: number): Promise<string> => {
  const reader = res.body?.getReader();
  if (!reader) return '';
  const parts: Uint8Array[] = [];
  let length = 0;
  for (;;) {
    const { done, value } = await reader.read();
    if (done) break;
    length += value.length;
    if (length > maxBytes) {
      await reader.cancel().catch(() => undefined);
      throw fail(`the audit ledger answered more than ${maxBytes} bytes for one page`);
    }
    parts.push(value);
  }
  return Buffer.concat(parts).toString('utf8');
};

interface LedgerReadOptions {
  url: URL;
  token: string;
  resource: string;
  /** Public keys (PEM) the operator pinned: with them the ledger's answer is verified, not taken as given. */
  pinnedKeys?: string[];
  maxEvents?: number;
  maxPageBytes?: number;
  timeoutMs?: number;
}

/** One GET of the audit API, bounded, as JSON; `what` names the answer in errors. Public endpoints go without the token. */
const getJson = async (options: LedgerReadOptions, url: URL, what: string, withToken = true): Promise<unknown> => {
  const where = ledgerSource(options.url);
  let res: Response;
  try {
    res = await fetch(url, { headers: withToken ? { authorization: `Bearer ${options.token}` } : {}, redirect: 'error', signal: AbortSignal.timeout(options.timeoutMs ?? 30_000) });
  } catch (error) {
    throw fail(`the audit ledger at ${where} is not reachable: ${(error as Error).message}`);
  }
  const text = await readBounded(res, options.maxPageBytes ?? 64 << 20);
  if (res.status === 401 || res.status === 403) throw fail(`the audit ledger at ${where} refused the token in CONTINUITY_AUDIT_TOKEN (${res.status}): it needs a viewer or auditor token`);
  if (!res.ok) throw fail(`the audit ledger at ${where} answered ${res.status}: ${text.slice(0, 500)}`);
  try {
    return JSON.parse(text);
  } catch (error) {
    throw fail(`the audit ledger at ${where} answered something that is not ${what}: ${(error as Error).message}`);
  }
};

/** The head every page is proven in, and the pinned keys it was checked with. */
interface ProvingHead {
  head: SignedTreeHead;
  proven: number;
}

/**
 * Every event of `type` for the resource, page by page: `take` gets each one the backup service
 * published (schema-checked, this resource); the rest counts as untrusted. With a proving head,
 * each page is asked within its tree and must prove in it before any of its events is taken.
 * Returns how many events were read and how many were untrusted.
 */
const readEvents = async (options: LedgerReadOptions, type: 'WalArchived' | 'BackupCreated', take: (event: { data: unknown }) => void, proving: ProvingHead | null) => {
  const maxEvents = options.maxEvents ?? 1_000_000;
  let events = 0;
  let untrusted = 0;
  let cursor: number | null = -1;
  const where = ledgerSource(options.url);
  while (cursor !== null) {
    const url = new URL(`${where}/audit/events`);
    url.searchParams.set('resource', options.resource);
    url.searchParams.set('type', type);
    url.searchParams.set('limit', String(PAGE));
    if (cursor >= 0) url.searchParams.set('cursor', String(cursor));
    if (proving) url.searchParams.set('treeSize', String(proving.head.treeSize));
    const page = (await getJson(options, url, 'a page of events')) as { events: { logIndex: number; leafHash?: string; envelope: unknown; untrusted: string | null }[]; nextCursor: number | null; proof?: EntriesProof };
    if (!page || !Array.isArray(page.events) || (page.nextCursor !== null && !Number.isInteger(page.nextCursor))) {
      throw fail(`the audit ledger at ${where} answered something that is not a page of events: no events list`);
    }
    if (page.nextCursor !== null && page.nextCursor <= cursor) throw fail(`the audit ledger at ${where} answered a cursor that does not advance`);
    // The service names a next page only after a full one: empty pages without end, or a cursor past
    // the proving head's tree, would only keep the restore waiting.
    if (page.nextCursor !== null && page.events.length === 0) throw fail(`the audit ledger at ${where} answered an empty page that is not the last`);
    if (proving && page.nextCursor !== null && page.nextCursor >= proving.head.treeSize) throw fail(`the audit ledger at ${where} answered a cursor beyond the tree of its signed head ${proving.head.treeSize}`);
    if (events + page.events.length > maxEvents) throw fail(`the audit ledger holds more than ${maxEvents} ${type} events of ${options.resource}: too many to check in one restore`);
    if (proving) {
      const verdict = verifyEntriesInHead(page.events, page.proof, proving.head);
      if (!verdict.ok) {
        const named = verdict.check === 'inclusion' ? await unprovenEntries(options, page.events, proving.head) : [];
        const detail = named.length ? `${verdict.detail}; each proven alone, the entries at log index ${named.map((e) => `${e.logIndex} (event ${e.id})`).join(', ')} are not in it` : verdict.detail;
        throw unverified(`the audit ledger at ${where} answered ${type} events of ${options.resource} that it cannot prove (${verdict.check} check): ${detail}; nothing restored`, {
          logIndices: named.length ? named.map((e) => e.logIndex) : verdict.logIndices,
        });
      }
      proving.proven += page.events.length;
    }
    for (const entry of page.events) {
      events++;
      if (entry.untrusted) {
        untrusted++;
        continue;
      }
      let event;
      try {
        event = continuityEvents.parse(entry.envelope);
      } catch {
        event = null;
      }
      if (!event || event.type !== type || event.resource !== options.resource || event.source !== 'backup') {
        untrusted++;
        continue;
      }
      take(event);
    }
    cursor = page.nextCursor;
  }
  return { events, untrusted };
};

/**
 * Which entries of a page that did not prove are not in the head's tree: each asked alone with its
 * own inclusion proof (`GET /audit/events/{id}?treeSize=`), checked with the leaf recomputed here
 * and the log index the page gave. Only on the failure path, and at most one page of requests.
 */
const unprovenEntries = async (options: LedgerReadOptions, entries: readonly ServedEntry[], head: SignedTreeHead) => {
  const where = ledgerSource(options.url);
  const unproven: { logIndex: number; id: string }[] = [];
  for (const entry of entries) {
    const id = String((entry.envelope as { id?: unknown } | null)?.id ?? '');
    let proven = false;
    if (/^[0-9a-f-]{36}$/i.test(id)) {
      const url = new URL(`${where}/audit/events/${id}`);
      url.searchParams.set('treeSize', String(head.treeSize));
      const answer = (await getJson(options, url, 'an event with its inclusion proof').catch(() => null)) as { inclusion?: { treeSize?: number; proof?: unknown } | null } | null;
      proven = answer?.inclusion?.treeSize === head.treeSize && entryInHead(entry, answer.inclusion.proof, head);
    }
    if (!proven) unproven.push({ logIndex: entry.logIndex, id: id.slice(0, 36) || 'without an id' });
  }
  return unproven;
};

/**
 * The signed head the answer is checked in: the latest one, signed by a pinned key or by a key a
 * pinned key attested (the key history is read from the open `GET /audit/public-keys` and believed
 * only through those attestations).
 */
const provingHead = async (options: LedgerReadOptions, pinnedKeys: string[]): Promise<ProvingHead> => {
  const where = ledgerSource(options.url);
  const keys = (await getJson(options, new URL(`${where}/audit/public-keys`), "the ledger's public keys", false)) as { keys?: LedgerKey[] };
  const head = (await getJson(options, new URL(`${where}/audit/tree-heads/latest`), 'a signed tree head')) as SignedTreeHead;
  const verdict = verifyHeadWithPinnedKeys(head, pinnedKeys, Array.isArray(keys?.keys) ? keys.keys : []);
  if (!verdict.ok) throw unverified(`the audit ledger at ${where} answered a tree head the pinned key(s) do not vouch for (${verdict.check} check): ${verdict.detail}; nothing restored`);
  return { head, proven: 0 };
};

const ledgerSource = (url: URL) => `${url.origin}${url.pathname.replace(/\/$/, '')}`;

export const readLedgerWal = async (options: LedgerReadOptions): Promise<LedgerWal> => {
  const versions: LedgerWalVersion[] = [];
  const baseBackups: LedgerBaseBackup[] = [];
  const proving = options.pinnedKeys?.length ? await provingHead(options, options.pinnedKeys) : null;
  const wal = await readEvents(options, 'WalArchived', (event) => {
    for (const s of WalArchivedV1Schema.parse(event.data).segments) {
      versions.push({ name: s.name, partial: s.partial, plaintextSha256: s.plaintextSha256, plaintextSizeBytes: s.plaintextSizeBytes, copies: s.copies.map((c) => ({ location: c.location, sha256: c.sha256 })) });
    }
  }, proving);
  const created = await readEvents(options, 'BackupCreated', (event) => {
    const data = event.data as { backupId: string; sha256: string; sizeBytes: number };
    baseBackups.push({ backupId: data.backupId, sha256: data.sha256, sizeBytes: data.sizeBytes });
  }, proving);
  const verified = proving ? { treeSize: proving.head.treeSize, rootHash: proving.head.rootHash, timestamp: proving.head.timestamp, keyId: proving.head.keyId, entriesProven: proving.proven } : null;
  return { versions, baseBackups, events: wal.events, untrusted: wal.untrusted, baseBackupEvents: created.events, baseBackupsUntrusted: created.untrusted, source: ledgerSource(options.url), verified };
};
