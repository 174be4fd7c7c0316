import { BaseRpcContext } from '@nestjs/microservices';
import type { JsMsg } from '@nats-io/jetstream';
import type { ReplayOrigin } from './dead-letter.js';

/** What a handler knows about the message it is handling (use with `@Ctx()`). */
export class JetStreamContext extends BaseRpcContext<[JsMsg, string, unknown, (ReplayOrigin | null)?]> {
  get message(): JsMsg {
    return this.args[0];
  }
  /** Durable consumer name. */
  get consumer(): string {
    return this.args[1];
  }
  /** The event's subject (for a replayed dead letter, the one it was first published on). */
  get subject(): string {
    return this.args[3]?.subject ?? this.args[0].subject;
  }
  /** The event's sequence in the event stream (also for a replayed dead letter). */
  get streamSequence(): number {
    return this.args[3]?.streamSequence ?? this.args[0].seq;
  }
  /** Set when an operator replayed this event from the dead-letter stream. */
  get replayOf(): ReplayOrigin | null {
    return this.args[3] ?? null;
  }
  /**
   * The envelope exactly as published (parsed JSON, before validation stripped unknown fields and
   * upcasting changed old versions): what a ledger must record and hash.
   */
  get publishedEnvelope(): unknown {
    return this.args[2];
  }
  /** 1 on the first delivery. */
  get deliveryCount(): number {
    return this.args[0].info.deliveryCount;
  }
  /** Tells JetStream the handler is still working (the transport also does it on a timer). */
  working(): void {
    this.args[0].working();
  }
}
