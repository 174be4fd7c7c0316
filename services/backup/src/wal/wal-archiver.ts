import { spawn, type ChildProcess } from 'node:child_process';
import { mkdir, readdir, readFile, stat, unlink } from 'node:fs/promises';
import { join } from 'node:path';
import { partialVersionName, WAL_HISTORY_PATTERN, WAL_SEGMENT_PATTERN, walFileFacts } from '@continuity/artifacts';
import type { ContinuityPublisher, Envelope, WalSegment } from '@continuity/contracts';
import { redactSecrets } from '@continuity/runtime/standalone';
import type { LoggerLike } from '../backup-run/backup-runner.js';
import type { LocationRegistry } from '../backup-run/locations/location.registry.js';
import { pgToolInvocation } from '../backup-run/sources/pg-tool.js';
import type { ResolvedPolicy } from '../config/backup-config.loader.js';
import type { PostgresResourceConfig } from '../config/backup-config.schema.js';
import { receivedBytes, shipWalFile, type WalFile } from './wal-file-shipper.js';
import { decideWalGap, followsChain, missingSegmentsOf, type WalGapDecision } from './wal-gap.policy.js';
import type { WalInventory } from './wal-inventory.js';
import { PartialVersionPruner } from './partial-version-pruner.js';
import { lsnMax } from './wal-position.js';
import { currentWalLsn, ensureSlot, oldestWalOnServer, requireSynchronousArchiver, slotState, withApplicationName, withSession, type SlotState } from './wal-server.js';

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
  /** What the copies hold: the archived end per timeline (gap detection) and the files (retention). */
  inventory: WalInventory;
  /**
   * Starts a new base backup of the resource after a gap that cannot be closed (the recoverable
   * window begins again there); resolves to its id. Absent: the gap is reported without one.
   */
  startBaseBackup?: (reason: string) => Promise<string>;
  /** Where `pg_receivewal` writes: one folder per resource, kept across restarts (it holds WAL not yet shipped). */
  spoolDir: string;
  logger?: LoggerLike;
  now?: () => Date;
  /** How often the spool folder is looked at for finished segments. */
  scanEveryMs?: number;
  /** Back-off between restarts of `pg_receivewal` after it exits: from `min`, doubling up to `max`. */
  restartBackoffMs?: { min: number; max: number };
  /** How often superseded versions of partial segments are looked for (after a scan), once their grace is over. */
  pruneEveryMs?: number;
}

export interface Shipment {
  event: Envelope;
  segments: WalSegment[];
}

export type WalGap = Extract<WalGapDecision, { gap: true }> & { event: Envelope; baseBackupId: string | null };

/** The newest partial segment of a sorted spool listing (after a timeline switch the old timeline's stays behind). */
const partialOf = (names: string[]) => names.filter((n) => n.endsWith(PARTIAL_SUFFIX) && WAL_SEGMENT_PATTERN.test(n.slice(0, -PARTIAL_SUFFIX.length))).pop();

const silent: LoggerLike = { log: () => undefined, warn: () => undefined, error: () => undefined };

/** pg_receivewal's words when the server no longer has the WAL it asks for. */
const WAL_REMOVED = /has already been removed/i;

/**
 * The continuous WAL archive of one PostgreSQL resource. `pg_receivewal` streams WAL from the
 * resource's replication slot into a spool folder as it is written; each finished file (a segment
 * whose name has lost its `.partial` suffix, or a timeline history file) is read once,
 * compressed, encrypted when the policy names a key, and written to every copy location of the
 * policy through the same one-pass fan-out as backups; once every copy is committed, the file is
 * recorded in the inventory, a `WalArchived` event is queued in the outbox and only then is the
 * spooled file removed. The segment still being written is shipped (as `partial`) at least every
 * `walShipIntervalMs` (on every scan when archiving is synchronous) when it grew, each shipment a
 * version under a name of its own (`<segment>.partial.<bytes>`), so a restore reading the version
 * it planned on is never given another; superseded versions are removed after
 * `wal.partialVersionGraceMs` (decision 0045). The slot keeps on the server every WAL byte not yet
 * confirmed received, so a restart (of `pg_receivewal` or of the service) resumes where streaming
 * stopped.
 *
 * Gaps (`decideWalGap`, at every start and when pg_receivewal is told its WAL was removed; per
 * finished segment on every scan): one that cannot be closed is reported at once with
 * `WalGapDetected` and a new base backup is started.
 */
export class WalArchiver {
  readonly slot: string;
  private readonly resource: PostgresResourceConfig;
  /** The resource's connection, or the primary the route record named last (`repoint`). */
  private connection: string;
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
  /** The partial segment last shipped (or found already shipped): its file as measured, and the version it was. */
  private lastPartialShipped: { name: string; mtimeMs: number; size: number; version: string } | null = null;
  /** The archived end of each timeline (segments), as the inventory has it: loaded at start, advanced by each shipment. */
  private readonly tips = new Map<number, string>();
  /** Every shipment made, newest last (tests and the status API read it). */
  readonly shipments: Shipment[] = [];
  /** Every gap reported by this archiver, newest last. */
  readonly gaps: WalGap[] = [];
  /** The last error of a shipment or of `pg_receivewal`, redacted; null once a shipment succeeds. */
  lastError: string | null = null;
  private readonly pruner: PartialVersionPruner;
  private lastPruneMs = 0;

  constructor(private readonly deps: WalArchiverDeps) {
    if (deps.policy.resource.kind !== 'postgres' || !deps.policy.wal) throw new Error(`policy ${deps.policy.name} archives no PostgreSQL WAL`);
    this.resource = deps.policy.resource;
    this.connection = this.resource.connection;
    this.slot = walSlotName(deps.policy.resourceName);
    this.dir = this.spool = join(deps.spoolDir, deps.policy.resourceName);
    this.logger = deps.logger ?? silent;
    this.now = deps.now ?? (() => new Date());
    this.backoffMs = deps.restartBackoffMs?.min ?? 1_000;
    this.pruner = new PartialVersionPruner({
      resource: deps.policy.resourceName,
      graceMs: deps.policy.wal.partialVersionGraceMs,
      locations: deps.locations,
      inventory: deps.inventory,
      now: this.now,
      logger: this.logger,
    });
  }

  get resourceName() {
    return this.deps.policy.resourceName;
  }

  /** The spool folder of this resource. */
  readonly spool: string;

  /** The application_name pg_receivewal streams under (what synchronous_standby_names names). */
  get applicationName() {
    return this.slot;
  }

  /** The pid of the running `pg_receivewal`, or null between restarts. */
  get receiverPid(): number | null {
    return this.child?.pid ?? null;
  }

  /**
   * Ships what the spool still holds, checks the archive against the server (a gap is reported
   * and a base backup started before streaming resumes), makes sure the slot exists, then streams.
   */
  start(): Promise<void> {
    if (!this.stopped) return this.starting;
    this.stopped = false;
    this.starting = this.startOnce();
    return this.starting;
  }

  private starting: Promise<void> = Promise.resolve();

  private async startOnce(): Promise<void> {
    try {
      await mkdir(this.dir, { recursive: true, mode: 0o700 });
      await this.loadTips();
      await this.scan();
      const before = await withSession(this.connection, (c) => slotState(c, this.slot));
      await this.createSlot();
      await this.checkGap(before, false);
      if (this.deps.policy.wal!.synchronous && this.deps.policy.wal!.setSynchronousStandbyNames) {
        await withSession(this.connection, (c) => requireSynchronousArchiver(c, this.applicationName));
      }
    } catch (error) {
      this.stopped = true;
      throw error;
    }
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

  /**
   * Streams from another server from now on (the promoted primary after a failover): stops, then
   * starts against it (slot ensured there, the archive checked for a gap, pg_receivewal resumed
   * from the spool and so across the timeline switch).
   */
  async repoint(connection: string, why: string): Promise<void> {
    if (connection === this.connection) return;
    await this.starting.catch(() => undefined); // a start under way finishes (or fails) first
    const running = !this.stopped;
    await this.stop();
    this.connection = connection;
    this.logger.warn(`WAL archive of ${this.resourceName} follows a new server: ${why}`);
    if (running) await this.start();
  }

  get currentConnection() {
    return this.connection;
  }

  /** Drops the replication slot (the resource no longer archived): the server stops keeping WAL for it. */
  async dropSlot(): Promise<void> {
    const sql = 'SELECT pg_catalog.pg_drop_replication_slot(slot_name) FROM pg_catalog.pg_replication_slots WHERE slot_name = $1';
    await withSession(this.connection, (c) => c.query(sql, [this.slot]));
  }

  private async loadTips() {
    this.tips.clear();
    for (const tip of await this.deps.inventory.tips(this.resourceName)) this.tips.set(tip.timeline, tip.endLsn);
  }

  /** The archived end on the newest timeline the copies hold. */
  private newestTip(): { timeline: number; endLsn: string } | null {
    const timeline = [...this.tips.keys()].sort((a, b) => b - a)[0];
    return timeline === undefined ? null : { timeline, endLsn: this.tips.get(timeline)! };
  }

  /**
   * Compares the archive with what the server can still stream. On a gap: the partial segment the
   * spool holds is shipped as it is (what was received is valid WAL) and removed, so streaming
   * resumes where the slot now is; the gap is reported and a base backup started.
   */
  private async checkGap(before: SlotState, receiverRefused: boolean): Promise<WalGap | null> {
    const partial = await this.partialInSpool();
    const { after, oldest, current } = await withSession(this.connection, async (c) => ({
      after: await slotState(c, this.slot),
      oldest: await oldestWalOnServer(c),
      current: await currentWalLsn(c),
    }));
    const decision = decideWalGap({
      tip: this.newestTip(),
      spoolResumeLsn: partial ? walFileFacts(partial.slice(0, -PARTIAL_SUFFIX.length)).startLsn : null,
      slot: before,
      // A slot that reserved no WAL yet: pg_receivewal starts at the server's current position.
      slotRestartLsn: after.restartLsn ?? current,
      oldestOnServer: oldest,
      receiverRefused,
    });
    if (!decision.gap) return null;
    if (partial) {
      await this.scan(true); // the partial segment now, whatever the interval: it is given up next
      await unlink(join(this.dir, partial)).catch(() => undefined);
    }
    return this.reportGap(decision);
  }

  private async reportGap(decision: Extract<WalGapDecision, { gap: true }>): Promise<WalGap> {
    this.logger.error(`WAL archive of ${this.resourceName}: ${decision.reason}; starting a new base backup`);
    let baseBackupId: string | null = null;
    let reason = decision.reason;
    if (this.deps.startBaseBackup) {
      try {
        baseBackupId = await this.deps.startBaseBackup(decision.reason);
      } catch (error) {
        reason = `${reason}; no base backup could be started: ${redactSecrets((error as Error).message)}`;
      }
    } else {
      reason = `${reason}; no base backup could be started: this process runs no backups`;
    }
    const policy = this.deps.policy;
    const event = this.deps.publisher.build('WalGapDetected', {
      resource: policy.resourceName,
      data: {
        policy: policy.name,
        slot: this.slot,
        timeline: decision.timeline,
        fromLsn: decision.fromLsn,
        toLsn: decision.toLsn,
        missingSegments: decision.missingSegments,
        reason: reason.slice(0, 4000),
        detectedAt: this.now().toISOString(),
        baseBackupId,
      },
    });
    await this.deps.queue(event);
    await this.deps.flush();
    // The archive goes on from where the gap ends: later segments follow it, not the old end.
    this.tips.set(decision.timeline, lsnMax(this.tips.get(decision.timeline) ?? decision.toLsn, decision.toLsn));
    const gap: WalGap = { ...decision, reason, event, baseBackupId };
    this.gaps.push(gap);
    return gap;
  }

  private async partialInSpool(): Promise<string | undefined> {
    return partialOf((await readdir(this.dir).catch(() => [] as string[])).sort());
  }

  private async createSlot() {
    await withSession(this.connection, (c) => ensureSlot(c, this.slot));
  }

  private spawnReceiver() {
    if (this.stopped) return;
    const wal = this.deps.policy.wal!;
    // --no-loop: a lost connection ends the process, so this archiver (not pg_receivewal) decides
    // when to retry, with back-off, and notices every interruption. --synchronous: flush (and
    // report flushed) each write at once, so a primary waiting for this application_name
    // acknowledges a commit only once its WAL is on the archiver's disk.
    const args = [`--directory=${this.dir}`, `--slot=${this.slot}`, '--no-loop', '--status-interval=1', ...(wal.synchronous ? ['--synchronous'] : [])];
    const invocation = pgToolInvocation(withApplicationName(this.connection, this.applicationName), args, {
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
      const refused = WAL_REMOVED.test(stderr);
      this.logger.warn(`${why}; restarting in ${this.backoffMs} ms${refused ? ' after checking the archive for a gap' : ' (the slot keeps the WAL until then)'}`);
      this.restartTimer = setTimeout(() => {
        // The server no longer has the WAL the spool resumes from: report the gap, resume past it.
        const ready = refused
          ? withSession(this.connection, (c) => slotState(c, this.slot))
              .then((before) => this.checkGap(before, true))
              .catch((error: Error) => this.logger.error(`WAL archive of ${this.resourceName}: checking for a gap: ${redactSecrets(error.message)}`))
          : Promise.resolve();
        void ready.then(() => this.spawnReceiver());
      }, this.backoffMs);
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
   * up (every scan when synchronous; now when `forcePartial`) and it grew since it was last
   * shipped. One `WalArchived` per shipment. Calls run one at a time.
   */
  scan(forcePartial = false): Promise<Shipment | null> {
    const run = this.exclusive.then(async () => {
      const shipment = await this.scanOnce(forcePartial);
      if (Date.now() - this.lastPruneMs >= (this.deps.pruneEveryMs ?? 60_000)) await this.prunePartialVersions();
      return shipment;
    });
    this.exclusive = run.catch(() => undefined);
    return run;
  }

  /**
   * Removes versions of partial segments superseded for longer than `wal.partialVersionGraceMs`
   * (a failure is logged and tried again later: the archive only holds more than it needs).
   */
  async prunePartialVersions(): Promise<string[]> {
    this.lastPruneMs = Date.now();
    try {
      return await this.pruner.prune();
    } catch (error) {
      this.logger.error(`WAL archive of ${this.resourceName}: removing superseded partial versions: ${redactSecrets((error as Error).message)}`);
      return [];
    }
  }

  private exclusive: Promise<unknown> = Promise.resolve();

  private async scanOnce(forcePartial = false): Promise<Shipment | null> {
    const names = (await readdir(this.dir).catch(() => [] as string[])).sort();
    // History files first: a restore must know a timeline before it reads the timeline's segments.
    const ready = [...names.filter((n) => WAL_HISTORY_PATTERN.test(n)), ...names.filter((n) => WAL_SEGMENT_PATTERN.test(n))];
    const finished = ready.slice(0, MAX_FILES_PER_SHIPMENT);
    const backlog = ready.length > finished.length;
    const files: WalFile[] = finished.map((name) => ({ name, path: join(this.dir, name), partial: false }));
    const partialName = partialOf(names);
    const wal = this.deps.policy.wal!;
    const interval = wal.synchronous || forcePartial ? 0 : wal.walShipIntervalMs;
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
        // A partial segment that holds nothing received yet (just created) is not worth a shipment;
        // one whose version is archived already (nothing received since; or shipped before a
        // restart) is not shipped again: its name stands for those bytes, whose copies a restore
        // may be reading (an encrypted shipment again would store other bytes under the name).
        const version = received > 0 ? partialVersionName(name, received) : null;
        if (bytes && version) {
          if (version === last?.version || (await this.deps.inventory.holds(this.resourceName, version))) {
            this.lastPartialShipped = { name, mtimeMs: st.mtimeMs, size: st.size, version };
          } else {
            partialStat = { mtimeMs: st.mtimeMs, size: st.size };
            files.push({ name, path: join(this.dir, partialName), partial: true, bytes, received });
          }
        }
      }
    }
    if (!files.length) return null;

    const segments: WalSegment[] = [];
    for (const file of files) {
      // A finished segment that does not follow what its timeline holds: WAL between is lost.
      const facts = walFileFacts(file.name);
      const tip = this.tips.get(facts.timeline) ?? null;
      if (facts.kind === 'segment' && !followsChain(tip, facts.startLsn)) {
        await this.reportGap({
          gap: true,
          timeline: facts.timeline,
          fromLsn: tip!,
          toLsn: facts.startLsn,
          missingSegments: missingSegmentsOf(facts.timeline, tip!, facts.startLsn),
          reason: `WAL ${tip}-${facts.startLsn} is missing from the archive: the next segment to ship (${file.name}) does not follow the last one archived on timeline ${facts.timeline}`,
        });
      }
      const segment = await shipWalFile(this.deps.policy, this.deps.locations, file, this.now);
      segments.push(segment);
      if (segment.kind === 'segment') this.tips.set(segment.timeline, lsnMax(this.tips.get(segment.timeline) ?? segment.endLsn, segment.endLsn));
    }
    const policy = this.deps.policy;
    const shippedAt = this.now().toISOString();
    const event = this.deps.publisher.build('WalArchived', {
      resource: policy.resourceName,
      data: {
        policy: policy.name,
        slot: this.slot,
        shippedAt,
        encryption: policy.encryption ? { format: 'age', recipients: policy.encryption.recipients } : null,
        segments,
      },
    });
    await this.deps.inventory.recordShipped(policy.resourceName, segments, policy.encryption !== null, shippedAt);
    await this.deps.queue(event);
    // Every copy is committed and the event is queued: only now may the spool forget the files.
    for (const file of files) if (!file.partial) await unlink(file.path).catch((error: NodeJS.ErrnoException) => { if (error.code !== 'ENOENT') throw error; });
    const partial = files.find((f) => f.partial);
    if (partial && partialStat) {
      this.lastPartialShipMs = Date.now();
      this.lastPartialShipped = { name: partial.name, ...partialStat, version: partialVersionName(partial.name, partial.received!) };
    }
    this.lastError = null;
    const shipment = { event, segments };
    this.shipments.push(shipment);
    if (this.shipments.length > 1_000) this.shipments.shift();
    this.logger.log(`WAL of ${policy.resourceName} archived: ${segments.map((s) => `${s.name}${s.partial ? ' (partial)' : ''}`).join(', ')} to ${policy.copies.map((c) => c.name).join(', ')}`);
    await this.deps.flush();
    return shipment;
  }
}
