import { BaseRpcContext } from '@nestjs/microservices';
import type { JsMsg } from '@nats-io/jetstream';

/** What a handler knows about the message it is handling (use with `@Ctx()`). */
export class JetStreamContext extends BaseRpcContext<[JsMsg, string, unknown]> {
  get message(): JsMsg {
    return this.args[0];
  }
  /** Durable consumer name. */
  get consumer(): string {
    return this.args[1];
  }
  get subject(): string {
    return this.args[0].subject;
  }
  get streamSequence(): number {
    return this.args[0].seq;
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
