import { context, isSpanContextValid, SpanStatusCode, trace, type Context, type Link, type Span } from '@opentelemetry/api';

const tracer = trace.getTracer('@continuity/backup');

/**
 * The spans of one backup run. The run is the root of its own trace (a scheduled run has no parent;
 * one started over HTTP links to the request's span instead of hiding under it), so one trace holds
 * one backup: its source (the dump or base backup), each copy, the outbox publish, and through the
 * event's NATS headers the verification and the ledger append that follow.
 */
export class RunTrace {
  readonly span: Span;
  /** Makes the run's span the active one: everything started inside becomes its child. */
  readonly context: Context;
  private source: Span | null = null;
  private readonly copies = new Map<string, Span>();

  constructor(attributes: { backupId: string; resource: string; policy: string; method: string; trigger: string }) {
    const requester = trace.getSpan(context.active())?.spanContext();
    const links: Link[] = requester && isSpanContextValid(requester) ? [{ context: requester }] : [];
    this.span = tracer.startSpan('backup run', {
      root: true,
      links,
      attributes: {
        'continuity.backup.id': attributes.backupId,
        'continuity.resource': attributes.resource,
        'continuity.policy': attributes.policy,
        'continuity.backup.method': attributes.method,
        'continuity.backup.trigger': attributes.trigger,
      },
    });
    this.context = trace.setSpan(context.active(), this.span);
  }

  /** From opening the source to its end: `pg_dump`, `pg_basebackup` or the directory's tar. */
  sourceStarted(kind: string) {
    this.source = tracer.startSpan(`backup source ${kind}`, { attributes: { 'continuity.backup.method': kind } }, this.context);
  }

  sourceEnded(sizeBytes?: number, error?: unknown) {
    if (sizeBytes !== undefined) this.source?.setAttribute('continuity.backup.bytes', sizeBytes);
    end(this.source, error);
    this.source = null;
  }

  /** From `begin` to `commit` (or abort) of one copy. */
  copyStarted(location: string) {
    this.copies.set(location, tracer.startSpan('backup copy', { attributes: { 'continuity.copy.location': location } }, this.context));
  }

  copyEnded(location: string, error?: unknown) {
    end(this.copies.get(location) ?? null, error);
    this.copies.delete(location);
  }

  /** Runs the outbox flush in a span of its own, a child of the run: the publish spans hang below it. */
  publishing<T>(work: () => Promise<T>): Promise<T> {
    return context.with(this.context, () =>
      tracer.startActiveSpan('backup outbox publish', async (span) => {
        try {
          const result = await work();
          if (typeof result === 'number') span.setAttribute('continuity.outbox.published', result);
          return result;
        } finally {
          span.end();
        }
      }),
    );
  }

  /** Ends what is still open (a failure skipped their ends) and the run itself. */
  ended(outcome: { state: 'created' } | { state: 'failed'; stage: string; reason: string }) {
    const failure = outcome.state === 'failed' ? new Error(`${outcome.stage}: ${outcome.reason}`) : undefined;
    if (this.source) this.sourceEnded(undefined, failure);
    for (const location of [...this.copies.keys()]) this.copyEnded(location, failure);
    this.span.setAttribute('continuity.backup.outcome', outcome.state);
    if (failure) this.span.setStatus({ code: SpanStatusCode.ERROR, message: failure.message });
    this.span.end();
  }
}

const end = (span: Span | null, error?: unknown) => {
  if (!span) return;
  if (error !== undefined) {
    span.recordException(error instanceof Error ? error : new Error(String(error)));
    span.setStatus({ code: SpanStatusCode.ERROR, message: error instanceof Error ? error.message : String(error) });
  }
  span.end();
};
