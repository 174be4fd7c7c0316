/**
 * Failed bearer-token attempts per client address in a fixed window, so a token cannot be guessed
 * at line speed. Memory is bounded: at most `addresses` entries, the least recently failing
 * address forgotten first (a flood of new addresses makes old counts be forgotten, never grows the map).
 */
export class FailedAttempts {
  private readonly byAddress = new Map<string, { since: number; count: number }>();

  constructor(private readonly options: { max: number; windowMs: number; addresses?: number }) {}

  /** Whole seconds until `address` may try again (0: it may now). */
  retryAfterSeconds(address: string, now: number): number {
    const entry = this.byAddress.get(address);
    if (!entry) return 0;
    const left = entry.since + this.options.windowMs - now;
    if (left <= 0) {
      this.byAddress.delete(address);
      return 0;
    }
    return entry.count >= this.options.max ? Math.ceil(left / 1000) : 0;
  }

  record(address: string, now: number): void {
    const current = this.byAddress.get(address);
    const entry = current && now - current.since < this.options.windowMs ? current : { since: now, count: 0 };
    entry.count += 1;
    // Re-inserted, so the Map's order is least recently failing first.
    this.byAddress.delete(address);
    this.byAddress.set(address, entry);
    if (this.byAddress.size > (this.options.addresses ?? 10_000)) this.byAddress.delete(this.byAddress.keys().next().value!);
  }

  get size(): number {
    return this.byAddress.size;
  }
}
