/** What to do with a message whose handler failed. Pure: unit-tested without NATS. */
export interface RetryPolicy {
  /** Deliveries (the first included) before a failing message is dead-lettered. */
  maxDeliver: number;
  /** Delay before the second delivery; doubles each time after. */
  initialDelayMs: number;
  maxDelayMs: number;
}

export const DEFAULT_RETRY_POLICY: RetryPolicy = { maxDeliver: 5, initialDelayMs: 500, maxDelayMs: 30_000 };

export type FailureDecision = { action: 'retry'; delayMs: number } | { action: 'dead-letter'; reason: string };

export const decideOnFailure = (policy: RetryPolicy, deliveryCount: number, error: unknown): FailureDecision => {
  if (deliveryCount >= policy.maxDeliver) {
    return { action: 'dead-letter', reason: `handler failed on all ${deliveryCount} deliveries: ${describeError(error)}` };
  }
  const delayMs = Math.min(policy.maxDelayMs, policy.initialDelayMs * 2 ** (deliveryCount - 1));
  return { action: 'retry', delayMs };
};

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
  return policy;
};
