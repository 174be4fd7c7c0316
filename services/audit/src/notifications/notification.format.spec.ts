import { v7 as uuidv7 } from 'uuid';
import type { Notice } from './notice.js';
import { signBody, slackBody, verdictOf, verifySignature, webhookBody } from './notification.format.js';

const notice: Notice = { eventId: uuidv7(), type: 'BackupFailed', resource: 'orders-db', occurredAt: '2026-12-01T00:00:00.000Z', severity: 'high', title: 'orders-db: backup failed at copy', detail: 'a <b> & c', key: 'stage:copy' };

describe('notification wire format', () => {
  it('signs timestamp and body with HMAC-SHA256, verifiable with the secret only', () => {
    const body = webhookBody(notice, 'oncall');
    const signature = signBody('s3cret', 1_764_547_200, body);
    expect(signature).toMatch(/^v1=[0-9a-f]{64}$/);
    expect(verifySignature('s3cret', '1764547200', body, signature, 1_764_547_200)).toBe(true);
    expect(verifySignature('other', '1764547200', body, signature, 1_764_547_200)).toBe(false);
    expect(verifySignature('s3cret', '1764547200', body.replace('orders-db', 'orders-dc'), signature, 1_764_547_200)).toBe(false);
    // a replay outside the tolerance
    expect(verifySignature('s3cret', '1764547200', body, signature, 1_764_547_200 + 301)).toBe(false);
    // the timestamp is signed: moving it breaks the signature
    expect(verifySignature('s3cret', '1764547201', body, signature, 1_764_547_200)).toBe(false);
  });

  it('puts the routing fields at the top of the webhook body', () => {
    expect(JSON.parse(webhookBody(notice, 'oncall'))).toMatchObject({ kind: 'continuity.notification', channel: 'oncall', eventType: 'BackupFailed', resource: 'orders-db', severity: 'high', key: 'stage:copy' });
  });

  it('escapes Slack mrkdwn control characters', () => {
    const { text } = JSON.parse(slackBody(notice));
    expect(text).toContain('*orders-db: backup failed at copy*');
    expect(text).toContain('a &lt;b&gt; &amp; c');
    expect(text).toContain(notice.eventId);
  });

  it.each([
    [200, 'delivered'],
    [204, 'delivered'],
    [301, 'permanent'],
    [400, 'permanent'],
    [401, 'permanent'],
    [404, 'permanent'],
    [408, 'transient'],
    [429, 'transient'],
    [500, 'transient'],
    [503, 'transient'],
  ])('HTTP %i is %s', (status, kind) => expect(verdictOf(status).kind).toBe(kind));
});
