import type { JsMsg } from '@nats-io/jetstream';

/** What the transport reads about every message's delivery before handling it. */
export interface Delivery {
  /** The stream the message was delivered from. */
  stream: string;
  /** 1 on the first delivery. */
  deliveryCount: number;
}

// Positions of the first dots of the reply subject being read (reused: reading is synchronous).
const dots = new Int32Array(7);

/**
 * The stream and delivery count in a JetStream reply subject, as `JsMsg.info` reads them
 * (`parseInfo` in @nats-io/jetstream) but without splitting the subject into a dozen strings and
 * parsing the five numbers the transport does not need for every message:
 * - `$JS.ACK.<stream>.<consumer>.<delivered>.<streamSeq>.<deliverySeq>.<timestamp>.<pending>` (9 tokens, older servers)
 * - `$JS.ACK.<domain>.<account>.<stream>.<consumer>.<delivered>.…` (11 tokens or more).
 * Throws as `parseInfo` does for anything else: such a message did not come from JetStream.
 */
export const deliveryOfReply = (reply: string): Delivery => {
  let tokens = 1;
  for (let at = reply.indexOf('.'); at !== -1; at = reply.indexOf('.', at + 1)) {
    if (tokens <= dots.length) dots[tokens - 1] = at;
    tokens++;
  }
  if ((tokens !== 9 && tokens < 11) || !reply.startsWith('$JS.ACK.')) {
    throw new Error('unable to parse delivery info - not a jetstream message');
  }
  // Token i runs from after dot i-1 to dot i; the stream is token 2 (old) or 4, the count the second after it.
  const streamToken = tokens === 9 ? 2 : 4;
  return {
    stream: reply.slice(dots[streamToken - 1]! + 1, dots[streamToken]!),
    deliveryCount: parseInt(reply.slice(dots[streamToken + 1]! + 1, dots[streamToken + 2]!), 10),
  };
};

/**
 * `deliveryOfReply` of a message from the NATS client (whose `reply` is not part of the `JsMsg`
 * type); any other `JsMsg` (a test double) is read through its `info`.
 */
export const deliveryOf = (msg: JsMsg): Delivery => {
  const reply = (msg as JsMsg & { readonly reply?: unknown }).reply;
  if (typeof reply === 'string') return deliveryOfReply(reply);
  const { stream, deliveryCount } = msg.info;
  return { stream, deliveryCount };
};
