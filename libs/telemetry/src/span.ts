import { trace, SpanStatusCode, type Attributes, type Span } from '@opentelemetry/api';

/**
 * Runs `work` inside an active span named `name` on `tracerName`'s tracer: what it publishes or
 * starts becomes the span's children; a throw is recorded on the span (exception + error status)
 * and rethrown; the span ends either way. One helper for every service's steps.
 */
export const inSpan = <T>(tracerName: string, name: string, attributes: Attributes, work: (span: Span) => Promise<T>): Promise<T> =>
  trace.getTracer(tracerName).startActiveSpan(name, { attributes }, async (span) => {
    try {
      return await work(span);
    } catch (error) {
      span.recordException(error as Error);
      span.setStatus({ code: SpanStatusCode.ERROR, message: (error as Error)?.message ?? String(error) });
      throw error;
    } finally {
      span.end();
    }
  });
