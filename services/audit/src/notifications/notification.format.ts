import { createHmac, timingSafeEqual } from 'node:crypto';
import type { Notice } from './notice.js';

/**
 * What goes on the wire to a channel, and how a receiver checks it came from us. Pure.
 *
 * Signature (both channel kinds, when the channel has a secret): header
 * `X-Continuity-Timestamp: <unix seconds>` and `X-Continuity-Signature: v1=<hex>`, the hex being
 * HMAC-SHA256(secret, `<timestamp>.<raw body>`). A receiver recomputes it over the bytes it got,
 * compares in constant time and refuses timestamps older than a few minutes (replays).
 */
export const SIGNATURE_HEADER = 'x-continuity-signature';
export const TIMESTAMP_HEADER = 'x-continuity-timestamp';
/** `<event id>:<channel>`: the same for every retry of one notification, for receivers that de-duplicate. */
export const DELIVERY_HEADER = 'x-continuity-delivery';

export const signBody = (secret: string, timestamp: number, body: string): string =>
  `v1=${createHmac('sha256', secret).update(`${timestamp}.${body}`).digest('hex')}`;

export const verifySignature = (secret: string, timestamp: string, body: string, signature: string, nowSeconds: number, toleranceSeconds = 300): boolean => {
  const ts = Number(timestamp);
  if (!Number.isInteger(ts) || Math.abs(nowSeconds - ts) > toleranceSeconds) return false;
  const expected = Buffer.from(signBody(secret, ts, body));
  const given = Buffer.from(signature);
  return expected.length === given.length && timingSafeEqual(expected, given);
};

/** The generic webhook body: the notice, with the fields a receiver routes on at the top. */
export const webhookBody = (notice: Notice, channel: string): string =>
  JSON.stringify({
    kind: 'continuity.notification',
    version: 1,
    channel,
    eventId: notice.eventId,
    eventType: notice.type,
    resource: notice.resource,
    occurredAt: notice.occurredAt,
    severity: notice.severity,
    title: notice.title,
    detail: notice.detail,
    key: notice.key,
  });

const SLACK_ICON: Record<Notice['severity'], string> = { info: ':information_source:', low: ':white_circle:', medium: ':large_yellow_circle:', high: ':large_orange_circle:', critical: ':red_circle:' };

/** Slack's `& < >` are the only characters its mrkdwn needs escaped. */
const slackEscape = (text: string) => text.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;');

/** A Slack-compatible incoming-webhook body (also understood by Mattermost and Rocket.Chat). */
export const slackBody = (notice: Notice): string => {
  const lines = [
    `${SLACK_ICON[notice.severity]} *${slackEscape(notice.title)}*`,
    ...(notice.detail ? [slackEscape(notice.detail)] : []),
    `_${notice.type} · ${notice.severity} · ${notice.occurredAt} · event ${notice.eventId}_`,
  ];
  return JSON.stringify({ text: lines.join('\n') });
};

/** How a channel's HTTP answer is taken: pure, so the retry rules are unit-tested. */
export type ResponseVerdict = { kind: 'delivered' } | { kind: 'transient'; reason: string } | { kind: 'permanent'; reason: string };

export const verdictOf = (status: number): ResponseVerdict => {
  if (status >= 200 && status < 300) return { kind: 'delivered' };
  // Too many requests, a timeout at the receiver, or the receiver (or a proxy before it) failing:
  // all of them can succeed later.
  if (status === 429 || status === 408 || status >= 500) return { kind: 'transient', reason: `the channel answered HTTP ${status}` };
  // Redirects are not followed (a redirect could point anywhere, credentials and all): fix the URL.
  if (status >= 300 && status < 400) return { kind: 'permanent', reason: `the channel answered HTTP ${status} (a redirect; redirects are not followed: configure the final URL)` };
  return { kind: 'permanent', reason: `the channel refused the notification with HTTP ${status}` };
};
