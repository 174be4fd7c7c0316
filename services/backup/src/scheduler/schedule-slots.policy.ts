import { Cron } from 'croner';
import type { Schedule } from '../config/schedule.js';

/**
 * Slots: the instants a schedule names. A slot is the key of a scheduled run across every
 * instance (see `schedule-claims.ts`), so it must be the same instant whichever process computes
 * it and whenever that process started: interval slots are multiples of the interval since the
 * Unix epoch (UTC) — `every 15m` is :00, :15, :30, :45 — and cron slots are croner's, in UTC.
 * Pure: `now` is passed in.
 */

const cronOf = (expression: string) => new Cron(expression, { paused: true, timezone: 'UTC' });

/** The latest slot at or before `now`; null for a cron that has never fired (none before `now`). */
export const currentSlot = (schedule: Schedule, now: Date): Date | null => {
  if (schedule.kind === 'interval') return new Date(Math.floor(now.getTime() / schedule.everyMs) * schedule.everyMs);
  // croner's previousRuns is strict and works in whole seconds (cron has no finer unit): looking
  // back from the next whole second finds a slot falling exactly on `now`.
  const [previous] = cronOf(schedule.expression).previousRuns(1, new Date(Math.floor(now.getTime() / 1_000) * 1_000 + 1_000));
  return previous ?? null;
};

/** The first slot strictly after `now`; null for a cron that never fires again. */
export const nextSlot = (schedule: Schedule, now: Date): Date | null => {
  if (schedule.kind === 'interval') return new Date((Math.floor(now.getTime() / schedule.everyMs) + 1) * schedule.everyMs);
  return cronOf(schedule.expression).nextRun(now);
};

/** What a tick does for one policy: claim the current slot, or nothing until `next`. */
export type SlotDecision =
  | { action: 'claim'; slot: Date; next: Date | null }
  | { action: 'wait'; next: Date | null };

/**
 * Decides a tick. Only the current slot is ever claimed: slots missed while no instance ran (an
 * outage) are collapsed into the current one, so a recovery runs one backup, not one per missed
 * slot. `handled` is the latest slot this process already claimed or saw claimed (a cache that
 * spares the database a query per tick; the claim itself decides).
 */
export const decideSlot = (schedule: Schedule, now: Date, handled: Date | null): SlotDecision => {
  const slot = currentSlot(schedule, now);
  const next = nextSlot(schedule, now);
  if (!slot || (handled && handled.getTime() >= slot.getTime())) return { action: 'wait', next };
  return { action: 'claim', slot, next };
};

/**
 * How many slots fell strictly between `previous` and `slot` (missed, not run), counted up to
 * `cap` (a daily cron down for years is not enumerated day by day).
 */
export const slotsBetween = (schedule: Schedule, previous: Date, slot: Date, cap = 1_000): number => {
  if (slot.getTime() <= previous.getTime()) return 0;
  if (schedule.kind === 'interval') return Math.min(cap, Math.max(0, Math.round((slot.getTime() - previous.getTime()) / schedule.everyMs) - 1));
  let count = 0;
  const cron = cronOf(schedule.expression);
  for (let at = cron.nextRun(previous); at && at.getTime() < slot.getTime() && count < cap; at = cron.nextRun(at)) count++;
  return count;
};
