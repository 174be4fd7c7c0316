import { Context, context, propagation, TextMapGetter, TextMapSetter } from '@opentelemetry/api';
import { headers as natsHeaders, type MsgHdrs } from '@nats-io/transport-node';

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

interface LazyHeaders {
  headers?: MsgHdrs;
}
const lazySetter: TextMapSetter<LazyHeaders> = { set: (carrier, key, value) => (carrier.headers ??= natsHeaders()).set(key, value) };

/**
 * The trace headers of the given (default: active) context, or `undefined` when the propagator has
 * nothing to write (OpenTelemetry not started, or no trace context): no headers object is made then.
 */
export const traceHeaders = (ctx: Context = context.active()): MsgHdrs | undefined => {
  const carrier: LazyHeaders = {};
  propagation.inject(ctx, carrier, lazySetter);
  return carrier.headers;
};

/** The trace context a publisher sent along, as the parent for the consumer's span. */
export const extractTraceContext = (headers: MsgHdrs | undefined, base: Context = context.active()): Context =>
  headers ? propagation.extract(base, headers, getter) : base;

/**
 * As `extractTraceContext`, reading `source.headers` (which a NATS message decodes on first access)
 * only when the registered propagator reads fields and one of them is present: with OpenTelemetry
 * not started, or a message without trace headers, the base context is returned at no cost.
 */
export const extractTraceContextOf = (source: { readonly headers?: MsgHdrs }, base: Context = context.active()): Context => {
  const fields = propagation.fields();
  if (fields.length === 0) return base;
  const headers = source.headers;
  if (!headers) return base;
  for (const field of fields) if (headers.has(field)) return propagation.extract(base, headers, getter);
  return base;
};
