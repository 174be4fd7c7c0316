import { Cron } from 'croner';

/** When a policy runs: a cron expression (UTC) or a fixed interval (its slots: `scheduler/schedule-slots.policy.ts`). */
export type Schedule = { kind: 'cron'; expression: string } | { kind: 'interval'; everyMs: number; text: string };

const UNIT_MS = { s: 1_000, m: 60_000, h: 3_600_000, d: 86_400_000 } as const;
const INTERVAL = /^(?:every\s+)?((?:\d+\s*[smhd]\s*)+)$/i;

/** `every 15m`, `1h30m`, `0 2 * * *` (cron, UTC; 6 fields = with seconds). Pure. */
export const parseSchedule = (text: string): { ok: true; schedule: Schedule } | { ok: false; error: string } => {
  const trimmed = text.trim();
  const interval = INTERVAL.exec(trimmed);
  if (interval) {
    let everyMs = 0;
    for (const [, n, unit] of interval[1]!.matchAll(/(\d+)\s*([smhd])/gi)) everyMs += Number(n) * UNIT_MS[unit!.toLowerCase() as keyof typeof UNIT_MS];
    if (everyMs < 1_000) return { ok: false, error: `interval "${text}" must be at least 1s` };
    return { ok: true, schedule: { kind: 'interval', everyMs, text: trimmed } };
  }
  try {
    new Cron(trimmed, { paused: true, timezone: 'UTC' }).stop();
    return { ok: true, schedule: { kind: 'cron', expression: trimmed } };
  } catch (error) {
    return {
      ok: false,
      error: `"${text}" is neither a cron expression (e.g. "0 2 * * *") nor an interval (e.g. "every 15m"): ${(error as Error).message}`,
    };
  }
};
