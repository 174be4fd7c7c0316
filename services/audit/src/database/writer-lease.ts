import { Inject, Injectable, Logger, OnModuleDestroy } from '@nestjs/common';
import { Client } from 'pg';
import { CheckResult, ReadinessChecks, SERVICE_CONFIG } from '@continuity/runtime';
import { AuditConfig } from '../config/audit.config.js';
import { WRITER_LEASE_LOCK } from './advisory-locks.js';

const APP_NAME_PREFIX = 'continuity-audit ';

export interface WriterStatus {
  /** This instance. */
  instance: string;
  role: 'writer' | 'standby';
  /** The instance holding the lease now, as PostgreSQL sees it; null while nobody does. */
  writer: string | null;
}

/**
 * Which audit instance writes the ledger: the one holding a session-level advisory lock on a
 * connection of its own. PostgreSQL releases the lock the moment that connection dies (the process
 * was killed, the network went), and a standby, trying every AUDIT_WRITER_LEASE_POLL_MS, takes it.
 * The lease decides who appends and signs; the per-batch transaction lock and tree-size check in
 * LedgerWriter keep the log contiguous even if two instances believe they hold it for a moment.
 */
@Injectable()
export class WriterLease implements OnModuleDestroy {
  private readonly logger = new Logger(WriterLease.name);
  readonly instance: string;
  private client: Client | null = null;
  private held = false;
  private timer?: NodeJS.Timeout;
  private started?: Promise<void>;
  private attempting = false;
  private stopped = false;
  private readonly listeners: ((held: boolean) => void)[] = [];

  constructor(
    @Inject(SERVICE_CONFIG) private readonly config: AuditConfig,
    readiness: ReadinessChecks,
  ) {
    this.instance = config.AUDIT_INSTANCE_ID;
    // Up either way (a standby is ready to serve reads); the body says who writes.
    readiness.register('ledger-writer', async () => ({ status: 'up', ...(await this.status()) }) as CheckResult);
  }

  get isWriter(): boolean {
    return this.held;
  }

  onChange(listener: (held: boolean) => void) {
    this.listeners.push(listener);
  }

  /** Tries to take the lease now, then keeps trying (or checking it still holds it). */
  start(): Promise<void> {
    this.started ??= this.attempt().then(() => {
      this.timer = setInterval(() => void this.attempt(), this.config.AUDIT_WRITER_LEASE_POLL_MS);
    });
    return this.started;
  }

  async onModuleDestroy() {
    this.stopped = true;
    clearInterval(this.timer);
    const client = this.client;
    this.client = null;
    this.held = false;
    await client?.end().catch(() => undefined); // closing the session releases the lock at once
  }

  async status(): Promise<WriterStatus> {
    return { instance: this.instance, role: this.held ? 'writer' : 'standby', writer: await this.currentWriter().catch(() => null) };
  }

  /** The lease holder's instance id, from its connection's application_name. */
  private async currentWriter(): Promise<string | null> {
    if (!this.client) return this.held ? this.instance : null;
    const { rows } = await this.client.query(
      `select a.application_name from pg_locks l join pg_stat_activity a on a.pid = l.pid
       where l.locktype = 'advisory' and l.granted and l.database = (select oid from pg_database where datname = current_database())
         and l.classid = 0 and l.objid = $1 and l.objsubid = 1`,
      [WRITER_LEASE_LOCK],
    );
    const name = rows[0]?.application_name as string | undefined;
    return name?.startsWith(APP_NAME_PREFIX) ? name.slice(APP_NAME_PREFIX.length) : (name ?? null);
  }

  private async attempt() {
    if (this.attempting || this.stopped) return;
    this.attempting = true;
    try {
      this.client ??= await this.connect();
      if (this.held) {
        await this.client.query('select 1'); // a dead session has lost the lock with it
        return;
      }
      const { rows } = await this.client.query('select pg_try_advisory_lock($1) as got', [WRITER_LEASE_LOCK]);
      if (rows[0]?.got) this.change(true);
    } catch (error) {
      this.lose(error as Error);
    } finally {
      this.attempting = false;
    }
  }

  private async connect(): Promise<Client> {
    const client = new Client({ connectionString: this.config.DATABASE_URL, application_name: APP_NAME_PREFIX + this.instance });
    client.on('error', (error) => {
      if (this.client === client) this.lose(error);
    });
    await client.connect();
    return client;
  }

  private lose(error: Error) {
    const client = this.client;
    this.client = null;
    void client?.end().catch(() => undefined);
    if (this.held) {
      this.logger.error(`lost the ledger writer lease (${error.message}); standing by`);
      this.change(false);
    }
  }

  private change(held: boolean) {
    this.held = held;
    if (held) this.logger.log(`instance ${this.instance} is the ledger writer`);
    for (const listener of this.listeners) listener(held);
  }
}
