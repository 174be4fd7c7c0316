import { type Instant, toMs } from './instant.js';

export interface RtoTimeline {
  readonly firstFailureAt: Instant | string | null;
  readonly detectedAt: Instant | string;
  readonly routedAt: Instant | string;
}

/**
 * Recovery time: first failed probe → clients routed to the new primary (detection when
 * there was no failed probe, as in a switchover). Accepts Dates, epoch ms or ISO strings
 * (the FailoverCompleted timeline). Never negative: a clock step back yields 0.
 */
export function rtoMs(timeline: RtoTimeline): number {
  const start =
    timeline.firstFailureAt === null
      ? toMs(timeline.detectedAt, 'detectedAt')
      : toMs(timeline.firstFailureAt, 'firstFailureAt');
  return Math.max(0, toMs(timeline.routedAt, 'routedAt') - start);
}
