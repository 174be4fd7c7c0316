import type { Dependency } from './failure.classifier.js';

export interface Outage {
  dependency: Dependency;
  /** ISO time of the first failure of this outage. */
  since: string;
  /** The latest failure's reason. */
  reason: string;
  /** Handler failures blamed on it so far. */
  failures: number;
}

/** Answers when the dependency works (resolves), or throws when it does not. */
export type Probe = () => Promise<unknown>;

export interface OutagesOptions {
  /** Checks for dependencies that can be asked directly (PostgreSQL: `select 1`). */
  probes?: Partial<Record<Dependency, Probe>>;
  /** How often a down dependency's probe is tried. */
  probeIntervalMs?: number;
  probeTimeoutMs?: number;
  /** Told when an outage starts and ends (logs). */
  onChange?: (change: { dependency: Dependency; state: 'down' | 'up'; outage: Outage }) => void;
  now?: () => number;
}

/**
 * The dependencies that handlers found down, shared by every consumer of a transport.
 *
 * While one is down, handlers do not start: they wait here (messages stay with this process and
 * are kept alive, rather than cycling through redeliveries) and `/health/ready` names the
 * dependency. A dependency with a probe is up again when its probe answers; one without (a remote
 * copy location, "the network") when a handler next succeeds.
 */
export class Outages {
  private readonly down = new Map<Dependency, Outage>();
  private readonly waiters = new Set<() => void>();
  private probing?: NodeJS.Timeout;
  private closed = false;
  private readonly now: () => number;

  constructor(private readonly options: OutagesOptions = {}) {
    this.now = options.now ?? Date.now;
  }

  /** Every dependency now down, for readiness. */
  current(): Outage[] {
    return [...this.down.values()];
  }

  report(dependency: Dependency, reason: string) {
    // A socket error that names no address ("read ECONNRESET"): ask the probed dependencies which
    // of them is down, and blame that one; only if every probe answers is it "the network".
    if (dependency === 'network' && !this.down.has('network') && this.hasProbes()) {
      void this.attribute(reason);
      return;
    }
    const outage = this.down.get(dependency);
    if (outage) {
      outage.reason = reason;
      outage.failures++;
      return;
    }
    const started: Outage = { dependency, since: new Date(this.now()).toISOString(), reason, failures: 1 };
    this.down.set(dependency, started);
    this.options.onChange?.({ dependency, state: 'down', outage: started });
    if (this.options.probes?.[dependency]) this.scheduleProbe();
  }

  /** A handler succeeded: dependencies nobody can probe are taken to be back. */
  succeeded() {
    if (this.down.size === 0) return;
    for (const dependency of [...this.down.keys()]) if (!this.options.probes?.[dependency]) this.clear(dependency);
  }

  /** Resolves once no probed dependency is down (or at once when none is), or when closed. */
  whenClear(): Promise<void> {
    if (this.closed || !this.blocking()) return Promise.resolve();
    return new Promise((resolve) => this.waiters.add(resolve));
  }

  /** Waits `delayMs` (cut short by `close`), then until `whenClear`. */
  async waitToRetry(delayMs: number): Promise<void> {
    if (this.closed) return;
    await new Promise<void>((resolve) => {
      const done = () => {
        clearTimeout(timer);
        this.waiters.delete(done);
        resolve();
      };
      const timer = setTimeout(done, delayMs);
      this.waiters.add(done);
    });
    await this.whenClear();
  }

  /** Stops probing and releases every waiter (the transport is stopping). */
  close() {
    this.closed = true;
    clearTimeout(this.probing);
    this.release();
  }

  /** True while a dependency that has a probe is down: handlers wait for it. */
  isBlocked(): boolean {
    return this.blocking();
  }

  private blocking() {
    for (const dependency of this.down.keys()) if (this.options.probes?.[dependency]) return true;
    return false;
  }

  private clear(dependency: Dependency) {
    const outage = this.down.get(dependency);
    if (!outage) return;
    this.down.delete(dependency);
    this.options.onChange?.({ dependency, state: 'up', outage });
    if (!this.blocking()) this.release();
  }

  private release() {
    const waiters = [...this.waiters];
    this.waiters.clear();
    for (const resolve of waiters) resolve();
  }

  private scheduleProbe() {
    if (this.probing || this.closed) return;
    this.probing = setTimeout(() => void this.probe(), this.options.probeIntervalMs ?? 1_000);
    this.probing.unref();
  }

  private hasProbes() {
    return Object.values(this.options.probes ?? {}).some(Boolean);
  }

  /** Runs one probe within the timeout: undefined when it answered, else why not. */
  private async ask(probe: Probe): Promise<string | undefined> {
    const timeoutMs = this.options.probeTimeoutMs ?? 2_000;
    let timer: NodeJS.Timeout | undefined;
    const timeout = new Promise<never>((_, reject) => {
      timer = setTimeout(() => reject(new Error(`probe timed out after ${timeoutMs} ms`)), timeoutMs);
    });
    try {
      await Promise.race([probe(), timeout]);
      return undefined;
    } catch (error) {
      return (error as Error)?.message ?? String(error);
    } finally {
      clearTimeout(timer);
    }
  }

  private attributing = false;

  private async attribute(reason: string) {
    if (this.attributing || this.closed) return;
    this.attributing = true;
    try {
      let blamed = false;
      for (const [dependency, probe] of Object.entries(this.options.probes ?? {}) as [Dependency, Probe | undefined][]) {
        if (!probe) continue;
        const failure = await this.ask(probe);
        if (failure === undefined) continue;
        blamed = true;
        this.report(dependency, `${reason} (probe: ${failure})`);
      }
      if (!blamed && !this.closed) {
        const started: Outage = { dependency: 'network', since: new Date(this.now()).toISOString(), reason, failures: 1 };
        this.down.set('network', started);
        this.options.onChange?.({ dependency: 'network', state: 'down', outage: started });
      }
    } finally {
      this.attributing = false;
    }
  }

  private async probe() {
    for (const dependency of [...this.down.keys()]) {
      const probe = this.options.probes?.[dependency];
      if (!probe) continue;
      const failure = await this.ask(probe);
      if (failure === undefined) {
        this.clear(dependency);
      } else {
        const outage = this.down.get(dependency);
        if (outage) outage.reason = `${outage.reason.split(' (probe: ')[0]} (probe: ${failure})`;
      }
    }
    this.probing = undefined;
    if (this.blocking()) this.scheduleProbe();
  }
}
