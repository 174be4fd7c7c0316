import type { KV } from '@nats-io/kv';
import { decodeJson, encodeJson, isCasConflict } from './kv-errors.js';

export interface LeaseValue {
  holder: string;
  /** When this holder first took the lease (ISO). */
  since: string;
  renewedAt: string;
}

export interface LeaseOptions {
  /** The lease bucket's TTL: a lease not renewed within it expires with its message. */
  ttlMs: number;
  /** Called on every change of leadership of this instance. */
  onChange?: (leader: boolean) => void;
  onError?: (error: Error) => void;
}

/**
 * Leadership of one resource among failover instances, held as a key in a JetStream KV bucket
 * whose TTL is the lease (NATS 2.9 has no per-key TTL: the bucket's `max_age` expires the key's
 * last message, after which `create` succeeds again).
 *
 * - Take: `create` (succeeds only when the key is absent, expired or deleted).
 * - Renew: `update` at the revision we wrote last (compare-and-set), every TTL/3. A conflict
 *   means someone else holds it now: we stop leading at once.
 * - Followers try to take it every TTL/6, so a dead leader is replaced within TTL + TTL/6.
 * - `isLeader()` is true only until `sent + TTL × 0.8` of the last successful renewal, counted
 *   from when we *sent* it: the server stamped the message no earlier, so its expiry is no earlier
 *   either. A leader that is paused (GC, SIGSTOP) for longer than that stops acting by itself; the
 *   fencing epoch's compare-and-set catches what slips through.
 * - `release()` deletes the key (compare-and-set) so another instance takes over immediately.
 */
export class LeaderLease {
  private revision = 0;
  private validUntil = 0;
  private since: string | null = null;
  private timer: NodeJS.Timeout | null = null;
  private stopped = true;
  private leading = false;
  private inFlight: Promise<void> | null = null;

  constructor(
    private readonly kv: KV,
    readonly key: string,
    readonly instanceId: string,
    private readonly options: LeaseOptions,
  ) {}

  start(): void {
    if (!this.stopped) return;
    this.stopped = false;
    this.tick();
  }

  /** True while this instance holds a lease that cannot have expired yet. */
  isLeader(now = Date.now()): boolean {
    return this.leading && now < this.validUntil;
  }

  /** Who holds the lease now, from the bucket (null when nobody). */
  async holder(): Promise<LeaseValue | null> {
    const entry = await this.kv.get(this.key);
    return entry && entry.operation === 'PUT' ? decodeJson<LeaseValue>(entry.value) : null;
  }

  /** One attempt to take or renew now (also what the timer does). */
  async attempt(): Promise<void> {
    if (this.inFlight) return this.inFlight;
    this.inFlight = (this.leading ? this.renew() : this.take()).finally(() => (this.inFlight = null));
    return this.inFlight;
  }

  async stop(options: { release: boolean } = { release: true }): Promise<void> {
    this.stopped = true;
    if (this.timer) clearTimeout(this.timer);
    this.timer = null;
    await this.inFlight?.catch(() => undefined);
    if (options.release && this.leading) {
      // Only our own revision: never delete a lease someone else took meanwhile.
      await this.kv.delete(this.key, { previousSeq: this.revision }).catch(() => undefined);
    }
    this.setLeading(false);
  }

  private tick(): void {
    if (this.stopped) return;
    void this.attempt().finally(() => {
      if (this.stopped) return;
      const every = this.leading ? this.options.ttlMs / 3 : this.options.ttlMs / 6;
      this.timer = setTimeout(() => this.tick(), every);
      this.timer.unref?.();
    });
  }

  private async take(): Promise<void> {
    const sent = Date.now();
    const since = new Date(sent).toISOString();
    try {
      this.revision = await this.kv.create(this.key, encodeJson({ holder: this.instanceId, since, renewedAt: since } satisfies LeaseValue));
      this.since = since;
      this.validUntil = sent + this.options.ttlMs * 0.8;
      this.setLeading(true);
    } catch (error) {
      if (!isCasConflict(error)) this.options.onError?.(error as Error);
    }
  }

  private async renew(): Promise<void> {
    const sent = Date.now();
    try {
      this.revision = await this.kv.update(
        this.key,
        encodeJson({ holder: this.instanceId, since: this.since ?? new Date(sent).toISOString(), renewedAt: new Date(sent).toISOString() } satisfies LeaseValue),
        this.revision,
      );
      this.validUntil = sent + this.options.ttlMs * 0.8;
    } catch (error) {
      if (isCasConflict(error)) {
        // Expired and taken by someone else (or deleted): we are not the leader any more.
        this.setLeading(false);
        return;
      }
      // NATS unreachable: keep trying; isLeader() turns false by itself when validity runs out.
      this.options.onError?.(error as Error);
      if (Date.now() >= this.validUntil) this.setLeading(false);
    }
  }

  private setLeading(leading: boolean): void {
    if (leading === this.leading) return;
    this.leading = leading;
    if (!leading) {
      this.validUntil = 0;
      this.since = null;
    }
    this.options.onChange?.(leading);
  }
}
