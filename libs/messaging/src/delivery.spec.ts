import type { JsMsg } from '@nats-io/jetstream';
import { deliveryOf, deliveryOfReply } from './delivery.js';

describe('deliveryOfReply', () => {
  it('reads the stream and delivery count of a reply subject with domain and account (11+ tokens)', () => {
    expect(deliveryOfReply('$JS.ACK._.ACCHASH.CONTINUITY_EVENTS.audit_all.3.1042.977.1764571234000000000.12.xyz')).toEqual({
      stream: 'CONTINUITY_EVENTS',
      deliveryCount: 3,
    });
    expect(deliveryOfReply('$JS.ACK.hub.ACCHASH.EV.c.1.2.3.4.5')).toEqual({ stream: 'EV', deliveryCount: 1 });
  });

  it('reads the older form without domain and account (9 tokens)', () => {
    expect(deliveryOfReply('$JS.ACK.CONTINUITY_REPLAY.backup_BackupCreated_replay.12.5.5.1764571234000000000.0')).toEqual({
      stream: 'CONTINUITY_REPLAY',
      deliveryCount: 12,
    });
  });

  it.each([
    ['an inbox', '_INBOX.abc.def'],
    ['too few tokens', '$JS.ACK.S.c.1.2.3.4'],
    ['ten tokens', '$JS.ACK.d.a.S.c.1.2.3.4'],
    ['another prefix', '$JS.NAK.S.c.1.2.3.4.5'],
    ['nothing', ''],
  ])('throws for %s, as JsMsg.info does', (_what, reply) => {
    expect(() => deliveryOfReply(reply)).toThrow('not a jetstream message');
  });
});

describe('deliveryOf', () => {
  it('reads the reply subject of a client message', () => {
    const msg = { reply: '$JS.ACK.S.c.2.9.9.1.0', get info(): never { throw new Error('not read') } } as unknown as JsMsg;
    expect(deliveryOf(msg)).toEqual({ stream: 'S', deliveryCount: 2 });
  });

  it('reads the info of a message without one', () => {
    const msg = { info: { stream: 'S', deliveryCount: 4 } } as unknown as JsMsg;
    expect(deliveryOf(msg)).toEqual({ stream: 'S', deliveryCount: 4 });
  });
});
