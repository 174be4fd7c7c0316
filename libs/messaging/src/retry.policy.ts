import { classifyFailure, Dependency, Endpoints } from './failure.classifier.js';

/** What to do with a message whose handler failed. Pure: unit-tested without NATS. */
export interface RetryPolicy {
  /** Deliveries (the first included) before a message failing for an unknown reason is dead-lettered. */
  maxDeliver: number;
  /** Delay before the second attempt; doubles each time after. */
  initialDelayMs: number;
  maxDelayMs: number;
  /**
   * Deliveries after which a message is dead-lettered *before* its handler runs: it was handed
   * over this often without an outcome, so it likely crashes or stalls the process (out of memory,
   * a kill). Higher than `maxDeliver`, since graceful restarts during an outage also redeliver.
   */
  poisonDeliveries: number;
}

export const DEFAULT_RETRY_POLICY: RetryPolicy = { maxDeliver: 5, initialDelayMs: 500, maxDelayMs: 30_000, poisonDeliveries: 10 };

export type FailureDecision =
  /** Unknown cause: give it back to JetStream to redeliver after `delayMs` (counts as a delivery). */
  | { action: 'retry'; delayMs: number }
  /** A dependency is down: keep the message, wait `delayMs` and for the dependency, then try again here. */
  | { action: 'wait'; delayMs: number; dependency: Dependency; reason: string }
  | { action: 'dead-letter'; reason: string };

const backoff = (policy: RetryPolicy, attempt: number) => Math.min(policy.maxDelayMs, policy.initialDelayMs * 2 ** Math.max(0, attempt - 1));

/**
 * `deliveryCount`: JetStream's count for this message (1 on the first). `attempt`: tries of this
 * delivery held here while a dependency was down (1 on the first). `random` in [0, 1) spreads the
 * retries of many messages and instances ("equal jitter": half the delay fixed, half random).
 */
export const decideOnFailure = (
  policy: RetryPolicy,
  deliveryCount: number,
  error: unknown,
  attempt = 1,
  random: () => number = Math.random,
  endpoints?: Endpoints,
): FailureDecision => {
  const failure = classifyFailure(error, endpoints);
  switch (failure.kind) {
    case 'transient': {
      const delay = backoff(policy, attempt);
      return { action: 'wait', delayMs: Math.round(delay / 2 + (delay / 2) * random()), dependency: failure.dependency, reason: failure.reason };
    }
    case 'permanent':
      return { action: 'dead-letter', reason: `permanent failure (a redelivery cannot fix it): ${failure.reason}` };
    case 'unknown':
      if (deliveryCount >= policy.maxDeliver) return { action: 'dead-letter', reason: `handler failed on all ${deliveryCount} deliveries: ${failure.reason}` };
      return { action: 'retry', delayMs: backoff(policy, deliveryCount) };
  }
};

/** Checked before the handler runs: a message that keeps coming back without an outcome is dead-lettered. */
export const decideBeforeHandling = (policy: RetryPolicy, deliveryCount: number): FailureDecision | null =>
  deliveryCount > policy.poisonDeliveries
    ? { action: 'dead-letter', reason: `delivered ${deliveryCount} times without an outcome (it may crash or stall the process); not run again` }
    : null;

/** One line naming an error. Nest hands a thrown error over as an errored stream of `{ message }`. */
export const describeError = (error: unknown): string => {
  if (error instanceof Error) return `${error.name === 'Error' ? '' : `${error.name}: `}${error.message}`;
  if (typeof error === 'object' && error && 'message' in error && typeof error.message === 'string') return error.message;
  return typeof error === 'string' ? error : JSON.stringify(error);
};

export const validateRetryPolicy = (policy: RetryPolicy): RetryPolicy => {
  if (!Number.isInteger(policy.maxDeliver) || policy.maxDeliver < 1) throw new RangeError('maxDeliver must be an integer ≥ 1');
  if (policy.initialDelayMs < 0 || policy.maxDelayMs < policy.initialDelayMs) {
    throw new RangeError('retry delays must satisfy 0 ≤ initialDelayMs ≤ maxDelayMs');
  }
  if (!Number.isInteger(policy.poisonDeliveries) || policy.poisonDeliveries < policy.maxDeliver) {
    throw new RangeError('poisonDeliveries must be an integer ≥ maxDeliver');
  }
  return policy;
};
