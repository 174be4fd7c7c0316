import type { ContinuityEvent } from '@continuity/contracts';

/**
 * Whether the failover service acts on a drill's `DrillStepRequested` (pure, time passed in).
 * A switchover moves production traffic: only the drill coordinator (the `backup` identity) may
 * ask for one this way — the transport already dead-letters other sources under the provenance
 * policy; this check holds even where that policy is off — and only before the request's deadline
 * (a request redelivered after the drill gave up must not switch anything).
 */
export type RehearsalDecision =
  | { action: 'rehearse' }
  | { action: 'refuse'; reason: string }
  | { action: 'answer-failed'; reason: string };

export const decideRehearsalRequest = (event: Pick<ContinuityEvent<'DrillStepRequested'>, 'source' | 'resource' | 'data'>, nowMs: number, watched: readonly string[]): RehearsalDecision => {
  if (event.source !== 'backup') return { action: 'refuse', reason: `DrillStepRequested from ${JSON.stringify(event.source)} refused: only the backup service's drill coordinator may request a drill switchover` };
  if (Date.parse(event.data.deadline) <= nowMs) return { action: 'answer-failed', reason: `the request arrived after its deadline ${event.data.deadline}: nothing was switched` };
  if (!watched.includes(event.resource)) return { action: 'answer-failed', reason: `${event.resource} is not watched by the failover service (watched: ${watched.join(', ') || 'none'})` };
  return { action: 'rehearse' };
};
