/*
 * Time as the pure failover code takes it: passed in by the adapter, never read from a clock.
 * Times inside state and decisions are epoch milliseconds (serialisable, comparable).
 */

/** A moment: a Date or epoch milliseconds. */
export type Instant = Date | number;

/** Epoch milliseconds of a Date, epoch ms or ISO text; a RangeError naming `what` when it is not a time. */
export const toMs = (value: Instant | string, what: string): number => {
  const ms = typeof value === 'number' ? value : typeof value === 'string' ? Date.parse(value) : value.getTime();
  if (!Number.isFinite(ms)) throw new RangeError(`${what} is not a valid time: ${String(value)}`);
  return ms;
};
