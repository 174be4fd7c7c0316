import { TransientFailure } from '@continuity/messaging';
import type { Channel } from './notification.config.js';
import { DELIVERY_HEADER, signBody, slackBody, SIGNATURE_HEADER, TIMESTAMP_HEADER, verdictOf, webhookBody } from './notification.format.js';
import type { Notice } from './notice.js';

/**
 * The channel refused the notification for good (a 4xx other than 408/429, or a redirect). `status`
 * 400 makes the failure classifier call it permanent: the transport dead-letters the event.
 */
export class ChannelRefusedError extends Error {
  override readonly name = 'ChannelRefusedError';
  readonly code = 'NOTIFY.CHANNEL_REFUSED';
  readonly status = 400;
  constructor(
    readonly channel: string,
    readonly httpStatus: number,
    message: string,
  ) {
    super(`channel ${channel}: ${message}`);
  }
}

/** The channel answered, but with something that can succeed later (5xx, 429, 408). */
export class ChannelUnavailableError extends TransientFailure {
  constructor(
    readonly channel: string,
    readonly httpStatus: number | null,
    message: string,
    options?: { cause?: unknown },
  ) {
    super('network', `channel ${channel}: ${message}`, options);
    this.name = 'ChannelUnavailableError';
  }
}

/**
 * One HTTP attempt. Resolves with the status when delivered; throws `ChannelRefusedError` or
 * `ChannelUnavailableError` (a refused connection, a reset, a timeout included). The URL never
 * appears in what it throws: only the channel's name.
 */
export const sendOnce = async (channel: Channel, notice: Notice, now: () => number = Date.now): Promise<number> => {
  const body = channel.kind === 'slack' ? slackBody(notice) : webhookBody(notice, channel.name);
  const headers: Record<string, string> = { 'content-type': 'application/json', 'user-agent': 'continuity-audit-notifier/1', [DELIVERY_HEADER]: `${notice.eventId}:${channel.name}` };
  if (channel.secret) {
    const timestamp = Math.floor(now() / 1000);
    headers[TIMESTAMP_HEADER] = String(timestamp);
    headers[SIGNATURE_HEADER] = signBody(channel.secret, timestamp, body);
  }
  let response: Response;
  try {
    response = await fetch(channel.url, { method: 'POST', headers, body, redirect: 'manual', signal: AbortSignal.timeout(channel.timeoutMs) });
  } catch (error) {
    const e = error as { name?: string; cause?: { code?: string; message?: string } };
    if (e.name === 'TimeoutError' || e.name === 'AbortError') throw new ChannelUnavailableError(channel.name, null, `no answer within ${channel.timeoutMs} ms`);
    // undici says "fetch failed" and puts the socket error (ECONNREFUSED, ECONNRESET …) in `cause`.
    const code = e.cause?.code;
    throw new ChannelUnavailableError(channel.name, null, `request failed${code ? ` (${code})` : ''}`);
  }
  // The body is not read beyond what is needed to free the connection.
  await response.body?.cancel().catch(() => undefined);
  const verdict = verdictOf(response.status);
  if (verdict.kind === 'delivered') return response.status;
  if (verdict.kind === 'transient') throw new ChannelUnavailableError(channel.name, response.status, verdict.reason);
  throw new ChannelRefusedError(channel.name, response.status, verdict.reason);
};
