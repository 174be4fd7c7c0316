import { spawn, type ChildProcess } from 'node:child_process';
import { createHash } from 'node:crypto';
import { createReadStream } from 'node:fs';
import { mkdir, readdir, readFile, stat, unlink } from 'node:fs/promises';
import { join } from 'node:path';
import { Readable } from 'node:stream';
import {
  WAL_HISTORY_PATTERN,
  WAL_SEGMENT_PATTERN,
  lsnValue,
  walArtifactKey,
  walFileFacts,
  zstdCompress,
} from '@continuity/artifacts';
import type { ContinuityPublisher, Envelope, WalSegment } from '@continuity/contracts';
import { redactSecrets } from '@continuity/runtime';
import type { LoggerLike } from '../backup-run/backup-runner.js';
import type { CopyWriter } from '../backup-run/locations/location.js';
import type { LocationRegistry } from '../backup-run/locations/location.registry.js';
import { streamToCopies } from '../backup-run/one-pass.js';
import { pgToolInvocation } from '../backup-run/sources/pg-tool.js';
import type { ResolvedPolicy } from '../config/backup-config.loader.js';
import type { PostgresResourceConfig } from '../config/backup-config.schema.js';

const PARTIAL_SUFFIX = '.partial';
/**
 * Files per shipment (and per `WalArchived`): a backlog after an outage leaves in several events,
 * each well under the event's list limit (64 segments per scan is 1 GiB of WAL every 0.5 s).
 */
const MAX_FILES_PER_SHIPMENT = 64;

/**
 * The replication slot of a resource: `continuity_<resource>`, folded to what PostgreSQL allows in
 * a slot name (lower-case letters, digits, `_`; at most 63 characters).
 */
export const walSlotName = (resource: string) => `continuity_${resource.toLowerCase().replace(/[^a-z0-9_]/g, '_')}`.slice(0, 63);

export interface WalArchiverDeps {
  policy: ResolvedPolicy;
  locations: LocationRegistry;
  /** Queues an event in the catalogue's outbox (the same transaction-backed queue as every backup event). */
  queue: (event: Envelope) => Promise<void>;
  /** Publishes what the outbox holds (a failure is retried by the next flush). */
  flush: () => Promise<unknown>;
  publisher: ContinuityPublisher;
  /** Where `pg_receivewal` writes: one folder per resource, kept across restarts (it holds WAL not yet shipped). */
  spoolDir: string;
  logger?: LoggerLike;
  now?: () => Date;
  /** How often the spool folder is looked at for finished segments. */
  scanEveryMs?: number;
  /** Back-off between restarts of `pg_receivewal` after it exits: from `min`, doubling up to `max`. */
  restartBackoffMs?: { min: number; max: number };
}

export interface Shipment {
  event: Envelope;
  segments: WalSegment[];
}

const silent: LoggerLike = { log: () => undefined, warn: () => undefined, error: () => undefined };

/**
 * The continuous WAL archive of one PostgreSQL resource. `pg_receivewal` streams WAL from the
 * resource's replication slot into a spool folder as it is written; each finished file (a segment
 * whose name has lost its `.partial` suffix, or a timeline history file) is read once,
 * compressed, encrypted when the policy names a key, and written to every copy location of the
 * policy through the same one-pass fan-out as backups; once every copy is committed, a
 * `WalArchived` event is queued in the outbox and only then is the spooled file removed. The
 * segment still being written is shipped (as `partial`, under its final name, overwritten by the
 * finished one later) at least every `walShipIntervalMs`. The slot keeps on the server every WAL
 * byte not yet confirmed received, so a restart (of `pg_receivewal` or of the service) resumes
 * where streaming stopped: no gap.
 */
export class WalArchiver {
  readonly slot: string;
  private readonly resource: PostgresResourceConfig;
  private readonly dir: string;
  private readonly logger: LoggerLike;
  private readonly now: () => Date;
  private child: ChildProcess | null = null;
  private stopped = true;
  private restartTimer: NodeJS.Timeout | null = null;
  private scanTimer: NodeJS.Timeout | null = null;
  private scanning: Promise<void> | null = null;
  private backoffMs: number;
  private lastPartialShipMs = 0;
  private lastPartialShipped: { name: string; mtimeMs: number; size: number } | null = null;
  /** Every shipment made, newest last (tests and the status API read it). */
  readonly shipments: Shipment[] = [];
  /** The last error of a shipment or of `pg_receivewal`, redacted; null once a shipment succeeds. */
  lastError: string | null = null;

  constructor(private readonly deps: WalArchiverDeps) {
    if (deps.policy.resource.kind !== 'postgres' || !deps.policy.wal) throw new Error(`policy ${deps.policy.name} archives no PostgreSQL WAL`);
    this.resource = deps.policy.resource;
    this.slot = walSlotName(deps.policy.resourceName);
    this.dir = join(deps.spoolDir, deps.policy.resourceName);
    this.logger = deps.logger ?? silent;
    this.now = deps.now ?? (() => new Date());
    this.backoffMs = deps.restartBackoffMs?.min ?? 1_000;
  }

  get resourceName() {
    return this.deps.policy.resourceName;
  }

  get spool() {
    return this.dir;
  }

  /** The pid of the running `pg_receivewal`, or null between restarts. */
  get receiverPid(): number | null {
    return this.child?.pid ?? null;
  }

  async start(): Promise<void> {
    if (!this.stopped) return;
    this.stopped = false;
    await mkdir(this.dir, { recursive: true, mode: 0o700 });
    await this.createSlot();
    this.spawnReceiver();
    this.scheduleScan();
  }

  /** Stops streaming and scanning; the slot stays, so the next start resumes without a gap. */
  async stop(): Promise<void> {
    this.stopped = true;
    if (this.restartTimer) clearTimeout(this.restartTimer);
    if (this.scanTimer) clearTimeout(this.scanTimer);
    const child = this.child;
    if (child && child.exitCode === null && child.signalCode === null) {
      const exited = new Promise((resolve) => child.once('close', resolve));
      child.kill('SIGTERM');
      await exited;
    }
    this.child = null;
    await this.scanning;
  }

  /** Drops the replication slot (the resource no longer archived): the server stops keeping WAL for it. */
  async dropSlot(): Promise<void> {
    await this.runTool(['--drop-slot', `--slot=${this.slot}`]);
  }

  private async createSlot() {
    await this.runTool(['--create-slot', '--if-not-exists', `--slot=${this.slot}`]);
  }

  private runTool(args: string[]): Promise<void> {
    const invocation = pgToolInvocation(this.resource.connection, args, { ...process.env, PGCONNECT_TIMEOUT: process.env.PGCONNECT_TIMEOUT ?? '10' });
    return new Promise((resolve, reject) => {
      const child = spawn('pg_receivewal', invocation.args, { stdio: ['ignore', 'ignore', 'pipe'], env: invocation.env });
      let stderr = '';
      child.stderr!.on('data', (chunk: Buffer) => (stderr = (stderr + chunk.toString()).slice(-4000)));
      child.once('error', (error) => reject(new Error(`cannot run pg_receivewal: ${error.message} (is PostgreSQL's client on PATH?)`)));
      child.once('close', (code) => (code === 0 ? resolve() : reject(new Error(`pg_receivewal ${args[0]} exited with ${code}: ${redactSecrets(stderr.trim())}`))));
    });
  }

  private spawnReceiver() {
    if (this.stopped) return;
    // --no-loop: a lost connection ends the process, so this archiver (not pg_receivewal) decides
    // when to retry, with back-off, and notices every interruption.
    const invocation = pgToolInvocation(this.resource.connection, [`--directory=${this.dir}`, `--slot=${this.slot}`, '--no-loop', '--status-interval=1'], {
      ...process.env,
      PGCONNECT_TIMEOUT: process.env.PGCONNECT_TIMEOUT ?? '10',
    });
    const child = spawn('pg_receivewal', invocation.args, { stdio: ['ignore', 'ignore', 'pipe'], env: invocation.env });
    this.child = child;
    const startedAt = Date.now();
    let stderr = '';
    child.stderr!.on('data', (chunk: Buffer) => (stderr = (stderr + chunk.toString()).slice(-4000)));
    child.once('error', (error) => this.logger.error(`cannot run pg_receivewal for ${this.deps.policy.resourceName}: ${error.message}`));
    child.once('close', (code, signal) => {
      if (this.child === child) this.child = null;
      if (this.stopped) return;
      const why = `pg_receivewal for ${this.deps.policy.resourceName} ${signal ? `was killed by ${signal}` : `exited with ${code}`}: ${redactSecrets(stderr.trim()) || 'no message'}`;
      this.lastError = why;
      // A process that streamed for a while before it stopped starts the back-off over.
      const { min, max } = this.deps.restartBackoffMs ?? { min: 1_000, max: 30_000 };
      if (Date.now() - startedAt > 60_000) this.backoffMs = min;
      this.logger.warn(`${why}; restarting in ${this.backoffMs} ms (the slot keeps the WAL until then)`);
      this.restartTimer = setTimeout(() => this.spawnReceiver(), this.backoffMs);
      this.restartTimer.unref();
      this.backoffMs = Math.min(this.backoffMs * 2, max);
    });
  }

  private scheduleScan(delayMs = this.deps.scanEveryMs ?? 500) {
    if (this.stopped) return;
    this.scanTimer = setTimeout(() => {
      this.scanning = this.scan()
        .then(() => undefined)
        .catch((error: Error) => {
          this.lastError = redactSecrets(error.message);
          this.logger.error(`WAL archive of ${this.deps.policy.resourceName}: ${this.lastError} (retried on the next scan)`);
        })
        .finally(() => {
          this.scanning = null;
          this.scheduleScan();
        });
    }, delayMs);
    this.scanTimer.unref();
  }

  /**
   * Ships what the spool holds: every finished file, and the partial segment when the interval is
   * up and it grew since it was last shipped. One `WalArchived` per shipment. Calls run one at a
   * time (a direct call waits for the scheduled scan under way).
   */
  scan(): Promise<Shipment | null> {
    const run = this.exclusive.then(() => this.scanOnce());
    this.exclusive = run.catch(() => undefined);
    return run;
  }

  private exclusive: Promise<unknown> = Promise.resolve();

  private async scanOnce(): Promise<Shipment | null> {
    const names = (await readdir(this.dir).catch(() => [] as string[])).sort();
    // History files first: a restore must know a timeline before it reads the timeline's segments.
    const ready = [...names.filter((n) => WAL_HISTORY_PATTERN.test(n)), ...names.filter((n) => WAL_SEGMENT_PATTERN.test(n))];
    const finished = ready.slice(0, MAX_FILES_PER_SHIPMENT);
    const backlog = ready.length > finished.length;
    const files: WalFile[] = finished.map((name) => ({ name, path: join(this.dir, name), partial: false }));
    const partialName = names.filter((n) => n.endsWith(PARTIAL_SUFFIX) && WAL_SEGMENT_PATTERN.test(n.slice(0, -PARTIAL_SUFFIX.length))).pop();
    const interval = this.deps.policy.wal!.walShipIntervalMs;
    let partialStat: { mtimeMs: number; size: number } | null = null;
    // With a backlog, the older finished files go first: the partial segment waits for the last of them.
    if (partialName && !backlog && Date.now() - this.lastPartialShipMs >= interval) {
      const name = partialName.slice(0, -PARTIAL_SUFFIX.length);
      const st = await stat(join(this.dir, partialName)).catch(() => null);
      const last = this.lastPartialShipped;
      if (st && !finished.includes(name) && !(last && last.name === name && last.mtimeMs === st.mtimeMs && last.size === st.size)) {
        // Read once here: what is shipped is what was measured, however far pg_receivewal has got since.
        const bytes = await readFile(join(this.dir, partialName)).catch(() => null);
        const received = bytes ? receivedBytes(bytes) : 0;
        // A partial segment that holds nothing received yet (just created) is not worth a shipment.
        if (bytes && received > 0) {
          partialStat = { mtimeMs: st.mtimeMs, size: st.size };
          files.push({ name, path: join(this.dir, partialName), partial: true, bytes, received });
        }
      }
    }
    if (!files.length) return null;

    const segments: WalSegment[] = [];
    for (const file of files) segments.push(await this.ship(file));
    const policy = this.deps.policy;
    const event = this.deps.publisher.build('WalArchived', {
      resource: policy.resourceName,
      data: {
        policy: policy.name,
        slot: this.slot,
        shippedAt: this.now().toISOString(),
        encryption: policy.encryption ? { format: 'age', recipients: policy.encryption.recipients } : null,
        segments,
      },
    });
    await this.deps.queue(event);
    // Every copy is committed and the event is queued: only now may the spool forget the files.
    for (const file of files) if (!file.partial) await unlink(file.path).catch((error: NodeJS.ErrnoException) => { if (error.code !== 'ENOENT') throw error; });
    const partial = files.find((f) => f.partial);
    if (partial && partialStat) {
      this.lastPartialShipMs = Date.now();
      this.lastPartialShipped = { name: partial.name, ...partialStat };
    }
    this.lastError = null;
    const shipment = { event, segments };
    this.shipments.push(shipment);
    if (this.shipments.length > 1_000) this.shipments.shift();
    this.logger.log(`WAL of ${policy.resourceName} archived: ${segments.map((s) => `${s.name}${s.partial ? ' (partial)' : ''}`).join(', ')} to ${policy.copies.map((c) => c.name).join(', ')}`);
    await this.deps.flush();
    return shipment;
  }

  /** One file: read once, zstd, (age), every copy; committed everywhere or nowhere. */
  private async ship(file: WalFile): Promise<WalSegment> {
    const policy = this.deps.policy;
    const facts = walFileFacts(file.name);
    let startLsn = facts.startLsn;
    let endLsn = facts.endLsn;
    let source: Readable;
    if (facts.kind === 'history') {
      const text = await readFile(file.path);
      ({ startLsn, endLsn } = historySwitchPoint(text.toString('utf8')));
      source = Readable.from([text]);
    } else if (file.partial && file.bytes) {
      endLsn = lsnText(lsnValue(facts.startLsn) + BigInt(file.received ?? 0));
      source = Readable.from([file.bytes]);
    } else {
      source = createReadStream(file.path);
    }
    const key = walArtifactKey(policy.resourceName, file.name, policy.encryption !== null);
    const writers: CopyWriter[] = [];
    try {
      const begun = await Promise.allSettled(policy.copies.map((c) => this.deps.locations.get(c.name).begin(key)));
      begun.forEach((b) => b.status === 'fulfilled' && writers.push(b.value));
      const refused = begun.find((b): b is PromiseRejectedResult => b.status === 'rejected');
      if (refused) throw refused.reason;
      // The one pass hashes what it is given (the compressed stream): the WAL file itself is
      // hashed on the way into the compressor, in the same single read.
      const walHash = createHash('sha256');
      let walBytes = 0;
      const tap = async function* (input: AsyncIterable<Buffer>) {
        for await (const chunk of input) {
          walHash.update(chunk);
          walBytes += chunk.length;
          yield chunk;
        }
      };
      const compressed = Readable.from(zstdCompress(tap(source)), { objectMode: false });
      const digests = await streamToCopies({ source: compressed, encryption: policy.encryption, writers });
      const plain = { sha256: walHash.digest('hex'), sizeBytes: walBytes };
      await Promise.all(writers.map((w) => w.finish(digests.stored)));
      const manifest = Buffer.from(
        `${JSON.stringify(
          {
            kind: 'wal',
            resource: policy.resourceName,
            name: file.name,
            type: facts.kind,
            timeline: facts.timeline,
            startLsn,
            endLsn,
            partial: file.partial,
            stored: digests.stored,
            plaintext: plain,
            compression: { format: 'zstd' },
            encryption: policy.encryption ? { format: 'age', recipients: policy.encryption.recipients } : null,
            archivedAt: this.now().toISOString(),
          },
          null,
          1,
        )}\n`,
      );
      for (const writer of writers) await writer.commit(manifest);
      return {
        name: file.name,
        kind: facts.kind,
        timeline: facts.timeline,
        startLsn,
        endLsn,
        partial: file.partial,
        sha256: digests.stored.sha256,
        sizeBytes: digests.stored.sizeBytes,
        plaintextSha256: plain.sha256,
        plaintextSizeBytes: plain.sizeBytes,
        copies: writers.map((w) => {
          const copy = policy.copies.find((c) => c.name === w.location)!;
          return { location: w.location, site: copy.location.site, medium: copy.location.medium, uri: w.uri, sha256: digests.stored.sha256 };
        }),
      };
    } catch (error) {
      // A finished file stays in the spool and is shipped again by the next scan; a partial
      // copy of it must not stay behind under its final name. A partial segment's earlier copy
      // was already overwritten or never existed: aborting removes only what this attempt made.
      await Promise.all(writers.map((w) => w.abort(error as Error)));
      throw error;
    }
  }
}

interface WalFile {
  name: string;
  path: string;
  partial: boolean;
  /** A partial segment: its bytes as read, and how many of them were received. */
  bytes?: Buffer;
  received?: number;
}

/**
 * pg_receivewal pre-sizes a partial segment with zeros: what was received ends at the last
 * non-zero byte, rounded up to PostgreSQL's 8-byte alignment (a lower bound of what it holds:
 * a record ending in zeros is counted short by at most those zeros).
 */
const receivedBytes = (bytes: Buffer) => {
  let end = bytes.length;
  while (end > 0 && bytes[end - 1] === 0) end--;
  return Math.min(bytes.length, Math.ceil(end / 8) * 8);
};

const lsnText = (value: bigint) => `${(value >> 32n).toString(16).toUpperCase()}/${(value & 0xffffffffn).toString(16).toUpperCase()}`;

/** A history file's last line says where the newest timeline began: `<parent tli>\t<switch LSN>\t<reason>`. */
const historySwitchPoint = (text: string): { startLsn: string; endLsn: string } => {
  const lines = text.split('\n').map((l) => l.trim()).filter((l) => l && !l.startsWith('#'));
  const lsn = lines.length ? /^\d+\s+([0-9A-F]+\/[0-9A-F]+)/i.exec(lines[lines.length - 1]!)?.[1] : undefined;
  const at = lsn ? lsnText(lsnValue(lsn)) : '0/0';
  return { startLsn: at, endLsn: at };
};
