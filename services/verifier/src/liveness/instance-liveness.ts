import { Logger } from '@nestjs/common';
import { randomUUID } from 'node:crypto';
import { Client, type Pool, type PoolClient } from 'pg';

/**
 * Which verifier processes are alive, without heartbeats: each process holds a session advisory
 * lock named after its instance id on a connection of its own for as long as it runs. PostgreSQL
 * releases the lock the moment that session ends (a killed process's socket closes), so "can I take
 * X's lock?" answers "is X dead?" at once, also across hosts. Work (verifications, scratch
 * databases, temp folders) is recorded with its owner's instance id; a dead owner's work is taken
 * over or cleaned up.
 */
export class InstanceLiveness {
  readonly instanceId = randomUUID();
  private client: Client | null = null;
  private stopped = false;
  private readonly logger = new Logger('InstanceLiveness');

  constructor(
    private readonly databaseUrl: string,
    private readonly pool: Pool,
  ) {}

  async start(): Promise<void> {
    const client = new Client({ connectionString: this.databaseUrl, connectionTimeoutMillis: 5_000, application_name: `continuity-verifier ${this.instanceId}` });
    await client.connect();
    await client.query('SELECT pg_advisory_lock(hashtextextended($1, 0))', [this.instanceId]);
    client.on('error', (error) => {
      if (this.stopped) return;
      // Lost the session (server restart): our lock is gone, so others may take over our work; take it again.
      this.logger.warn(`liveness session lost (${error.message}); reconnecting`);
      this.client = null;
      setTimeout(() => void this.start().catch((e: Error) => this.logger.error(`liveness reconnect failed: ${e.message}`)), 1_000).unref();
    });
    this.client = client;
  }

  /**
   * True when `owner` is this process, or its lock is held (its session is alive). Pass `client`
   * to ask on a connection already in hand (inside a transaction: no second pool connection).
   */
  async isAlive(owner: string, client?: Pick<PoolClient, 'query'>): Promise<boolean> {
    if (owner === this.instanceId) return true;
    if (!owner) return false;
    const own = client ? null : await this.pool.connect();
    const c = client ?? own!;
    try {
      const { rows } = await c.query<{ free: boolean }>('SELECT pg_try_advisory_lock(hashtextextended($1, 0)) AS free', [owner]);
      if (rows[0]!.free) await c.query('SELECT pg_advisory_unlock(hashtextextended($1, 0))', [owner]);
      return !rows[0]!.free;
    } finally {
      own?.release();
    }
  }

  async stop(): Promise<void> {
    this.stopped = true;
    await this.client?.end().catch(() => undefined);
    this.client = null;
  }
}
