import { Inject, Injectable, Logger, OnApplicationBootstrap, OnModuleDestroy } from '@nestjs/common';
import { InjectDataSource } from '@nestjs/typeorm';
import { DataSource } from 'typeorm';
import type { NatsConnection } from '@nats-io/transport-node';
import { Topology } from '@continuity/contracts';
import { NATS_CONNECTION, ReadinessChecks, SERVICE_CONFIG, TOPOLOGY } from '@continuity/runtime';
import { AuditConfig } from '../config/audit.config.js';
import { SigningKeysService } from '../signing/signing-keys.service.js';
import { TreeHeadsService } from '../signing/tree-heads.service.js';
import { SignedTreeHead } from '@continuity/contracts/ledger';
import type { SubtreeNode } from '../ledger/frontier.js';
import { Announcements, readAnnouncements } from './checkpoint-announcements.js';
import { compareAnnouncements, describeFinding, Finding, LedgerAuditor } from './ledger-audit.js';

export interface TamperReport {
  checkedAt: string;
  entriesChecked: number;
  headsChecked: number;
  /** `AuditCheckpointSigned` announcements on the stream compared with the stored heads. */
  announcementsChecked: number;
  /** Announcements beyond the bounded read, not compared this time. */
  announcementsUnread: number;
  /** Keys in the ledger's key history, each head verified with its own. */
  keysKnown: number;
  /** Heads that predate the key history, signed by a key never recorded: matched to the entries, not verified. */
  unverifiedHeads: number[];
  durationMs: number;
  intact: boolean;
  findings: Finding[];
}

const CHUNK = 5_000;

/**
 * Entries rehashed per turn of the event loop. Recomputing a leaf hash (canonical JSON, SHA-256)
 * and its Merkle nodes costs tens of microseconds, so a whole chunk would hold the loop, and every
 * HTTP read behind it, for 100 ms or more; a slice this size holds it for a few milliseconds.
 */
const FEED_SLICE = 64;

const nextTurn = () => new Promise<void>((resolve) => setImmediate(resolve));

/** A check that failed to run is retried after this, doubling up to TAMPER_CHECK_MAX_RETRY_MS (or the check interval, if shorter). */
export const TAMPER_CHECK_FIRST_RETRY_MS = 5_000;
export const TAMPER_CHECK_MAX_RETRY_MS = 60_000;

/**
 * Re-checks the stored ledger against its signed heads on start and every
 * AUDIT_TAMPER_CHECK_INTERVAL_MS. A changed, removed or inserted row turns readiness down, shows
 * in the report, and is logged naming the index. A check that fails to run (the database
 * restarting, a row it cannot read) is logged, shown as a readiness warning, in the report and in
 * the continuity report, and retried until one runs: the last report alone would keep vouching
 * for a ledger nobody is checking. (A warning, not "down": the ledger still serves, and a check
 * that cannot run is not evidence of tampering.)
 */
@Injectable()
export class TamperCheckService implements OnApplicationBootstrap, OnModuleDestroy {
  private readonly logger = new Logger(TamperCheckService.name);
  private timer?: NodeJS.Timeout;
  private running: Promise<TamperReport> | null = null;
  /** The check that starts when the running one ends, shared by every request made meanwhile. */
  private next: Promise<TamperReport> | null = null;
  last: TamperReport | null = null;
  /** Why the last run failed to finish, until one finishes. */
  failure: { at: string; error: string } | null = null;
  private retry?: NodeJS.Timeout;
  private retryMs = 0;

  constructor(
    @InjectDataSource() private readonly dataSource: DataSource,
    @Inject(SERVICE_CONFIG) private readonly config: AuditConfig,
    @Inject(NATS_CONNECTION) private readonly nc: NatsConnection,
    @Inject(TOPOLOGY) private readonly topology: Topology,
    private readonly heads: TreeHeadsService,
    private readonly keys: SigningKeysService,
    readiness: ReadinessChecks,
  ) {
    readiness.register('ledger', async () => {
      if (this.last && !this.last.intact) return { status: 'down', error: `ledger tampering detected: ${this.last.findings.map(describeFinding).slice(0, 3).join('; ')}` };
      if (this.failure) {
        const since = this.last ? `the last complete check is from ${this.last.checkedAt}` : 'no check has completed yet';
        return { status: 'up', warning: `the ledger's tamper check failed to run at ${this.failure.at} (${this.failure.error}); retrying, ${since}` };
      }
      return { status: 'up' };
    });
  }

  onApplicationBootstrap() {
    this.timer = setInterval(() => this.scheduled(), this.config.AUDIT_TAMPER_CHECK_INTERVAL_MS);
    this.timer.unref();
    this.scheduled();
  }

  private scheduled() {
    // A check still running is as recent as a schedule asks for; its failure schedules the retry.
    if (!this.running) this.check().catch(() => undefined);
  }

  /** After a failed run (scheduled or asked for), once the schedule runs: another try, sooner than the next scheduled one. */
  private retryAfter() {
    this.retryMs = Math.min(this.retryMs ? this.retryMs * 2 : TAMPER_CHECK_FIRST_RETRY_MS, TAMPER_CHECK_MAX_RETRY_MS, this.config.AUDIT_TAMPER_CHECK_INTERVAL_MS);
    clearTimeout(this.retry);
    this.retry = setTimeout(() => this.scheduled(), this.retryMs);
    this.retry.unref();
  }

  onModuleDestroy() {
    clearInterval(this.timer);
    clearTimeout(this.retry);
    this.timer = undefined;
  }

  /**
   * A check of what is stored now. One asked for while another runs does not take that one's
   * report (it may have read the rows before a change the caller wants checked): it waits for it
   * and runs once more, and every request made in the meantime shares that second run.
   */
  check(): Promise<TamperReport> {
    if (!this.running) {
      this.running = this.run()
        .then(
          (report) => {
            this.failure = null;
            this.retryMs = 0;
            clearTimeout(this.retry);
            return report;
          },
          (error: Error) => {
            this.failure = { at: new Date().toISOString(), error: error.message };
            if (this.timer) this.retryAfter();
            this.logger.error(`tamper check failed to run: ${error.message}${this.timer ? `; retrying in ${this.retryMs} ms` : ''}`);
            throw error;
          },
        )
        .finally(() => (this.running = null));
      return this.running;
    }
    this.next ??= this.running.then(
      () => this.afterRunning(),
      () => this.afterRunning(),
    );
    return this.next;
  }

  private afterRunning(): Promise<TamperReport> {
    this.next = null;
    return this.check();
  }

  private announced = { checked: 0, unread: 0 };

  /**
   * The stored heads against their announcements on the stream. A head signed after `announcedBy`
   * (two signing intervals before the announcements were read) may not be announced yet: it is
   * stored first. When the read stopped at its bound, only heads up to the last one read are compared.
   */
  private announcementFindings(stored: SignedTreeHead[], { heads: announced, unread, unreadable }: Announcements, announcedBy: string): Finding[] {
    this.announced = { checked: announced.length, unread };
    const last = announced.reduce((max, h) => Math.max(max, h.treeSize), 0);
    const compared = unread > 0 ? stored.filter((h) => h.treeSize <= last) : stored;
    const findings = compareAnnouncements(compared, announced, announcedBy);
    if (unreadable) findings.push({ kind: 'unstored-announcement', treeSize: -1, detail: `${unreadable} messages on the AuditCheckpointSigned subject are not signed heads` });
    return findings;
  }

  /**
   * A stored head whose signature verifies but that was never announced is not tampering: the
   * process stopped (or NATS was down) between storing and announcing it. It is announced now and
   * said so, rather than turning readiness 503 for good. Only heads with a finding of their own
   * (a bad signature, an unknown key) stay findings.
   */
  private async announceLost(findings: Finding[], heads: SignedTreeHead[], ledgerFindings: Finding[]): Promise<Finding[]> {
    const suspect = new Set(ledgerFindings.map((f) => ('treeSize' in f ? f.treeSize : undefined)).filter((n) => n !== undefined));
    const kept: Finding[] = [];
    for (const finding of findings) {
      const head = finding.kind === 'unannounced-head' && !suspect.has(finding.treeSize) ? heads.find((h) => h.treeSize === finding.treeSize) : undefined;
      if (!head) {
        kept.push(finding);
        continue;
      }
      await this.heads.announce(head).then(
        () => this.logger.warn(`signed head ${head.treeSize} was stored but its announcement was lost (a stop or NATS outage in between): announced now`),
        (error: Error) => this.logger.warn(`signed head ${head.treeSize} is not announced yet and NATS refused it now (${error.message}); the next check tries again`),
      );
    }
    return kept;
  }

  private async run(): Promise<TamperReport> {
    const started = Date.now();
    // Heads first: a key is committed before any head names it, so these keys cover these heads
    // even while another instance adds its key and signs.
    // Announcements before heads: a head signed in between is then stored but not yet read as
    // announced, which the grace below allows, rather than announced and missing from the heads.
    const announcedBy = new Date(Date.now() - 2 * this.config.AUDIT_SIGN_INTERVAL_MS - 1_000).toISOString();
    const announcements = await readAnnouncements(this.nc, this.topology);
    const heads = await this.heads.all();
    const keys = await this.keys.all();
    const auditor = new LedgerAuditor(heads, keys);
    // The entries stored when the check starts (read after the heads, so every head read is within
    // them unless entries were removed): appended while it runs, they are the next check's. Chasing
    // the writer instead re-hashed every entry twice while a backlog drained, and never ended while
    // appends outpaced the check.
    // (The last index, not one past it: a row forged at the largest bigint must be read and reported.)
    const [{ last }] = await this.dataSource.query('select max(log_index) as last from audit.log_entries');
    let after = '-1'; // as PostgreSQL wrote it: a bigint beyond 2^53 does not survive a Number
    for (; last !== null; ) {
      const rows: { log_index: string; envelope: unknown; leaf_hash: Buffer }[] = await this.dataSource.query(
        'select log_index, envelope, leaf_hash from audit.log_entries where log_index > $1 and log_index <= $2 order by log_index limit $3',
        [after, last, CHUNK],
      );
      if (rows.length === 0) break;
      after = rows[rows.length - 1]!.log_index;
      const nodes: SubtreeNode[] = [];
      for (let i = 0; i < rows.length; i += FEED_SLICE) {
        if (i > 0) await nextTurn();
        const slice = rows.slice(i, i + FEED_SLICE);
        nodes.push(...auditor.feed(slice.map((r) => ({ logIndex: Number(r.log_index), envelope: r.envelope, leafHash: r.leaf_hash.toString('hex') }))));
      }
      if (nodes.length) {
        const stored = await this.dataSource.query(
          'select level, idx, hash from audit.merkle_nodes n join unnest($1::smallint[], $2::bigint[]) as w(l, i) on n.level = w.l and n.idx = w.i',
          [nodes.map((n) => Math.round(Math.log2(n.size))), nodes.map((n) => n.start / n.size)],
        );
        auditor.compareNodes(nodes, new Map(stored.map((r: { level: number; idx: string; hash: Buffer }) => [`${r.level}:${Number(r.idx)}`, r.hash])));
      }
      if (rows.length < CHUNK) break; // the last chunk up to `last`
    }
    const ledgerFindings = auditor.finish();
    const findings = [...ledgerFindings, ...(await this.announceLost(this.announcementFindings(heads, announcements, announcedBy), heads, ledgerFindings))];
    const report: TamperReport = {
      checkedAt: new Date().toISOString(),
      entriesChecked: auditor.entriesChecked,
      headsChecked: heads.length,
      announcementsChecked: this.announced.checked,
      announcementsUnread: this.announced.unread,
      keysKnown: keys.length,
      unverifiedHeads: auditor.unverifiedHeads,
      durationMs: Date.now() - started,
      intact: findings.length === 0,
      findings,
    };
    for (const finding of findings) this.logger.error(`ledger tampering detected: ${describeFinding(finding)}`);
    if (report.intact) {
      this.logger.log(`ledger intact: ${report.entriesChecked} entries, ${report.headsChecked} signed heads (${report.keysKnown} keys) checked in ${report.durationMs} ms`);
    }
    this.last = report;
    return report;
  }
}
