import { Context, context, propagation, TextMapGetter, TextMapSetter } from '@opentelemetry/api';
import type { MsgHdrs } from '@nats-io/transport-node';

// NATS `MsgHdrs.get` returns '' for a missing key, so presence is checked with `has`.
const getter: TextMapGetter<MsgHdrs> = {
  keys: (carrier) => [...carrier.keys()],
  get: (carrier, key) => (carrier.has(key) ? carrier.get(key) : undefined),
};
const setter: TextMapSetter<MsgHdrs> = { set: (carrier, key, value) => carrier.set(key, value) };

/** Writes W3C `traceparent`/`tracestate` of the given (default: active) context into NATS headers. */
export const injectTraceHeaders = (headers: MsgHdrs, ctx: Context = context.active()): MsgHdrs => {
  propagation.inject(ctx, headers, setter);
  return headers;
};

/** The trace context a publisher sent along, as the parent for the consumer's span. */
export const extractTraceContext = (headers: MsgHdrs | undefined, base: Context = context.active()): Context =>
  headers ? propagation.extract(base, headers, getter) : base;
