import { Controller } from '@nestjs/common';
import { Ctx, Payload } from '@nestjs/microservices';
import { Envelope } from '@continuity/contracts';
import { JetStreamContext, OnEvent } from '@continuity/messaging';
import { trace } from '@opentelemetry/api';
import { inSpan } from '@continuity/telemetry';
import { LEDGER_IN_FLIGHT } from '../config/audit.config.js';
import { LedgerWriter } from './ledger.writer.js';

/**
 * The one durable consumer over every event, of every type. Many messages are in flight at once so
 * the writer can batch them into one transaction (and fill the next batch while one commits); each is
 * acked when its batch has committed.
 */
@Controller()
export class LedgerListener {
  constructor(private readonly writer: LedgerWriter) {}

  // `record`: the ledger must hold every event, from whatever source; the writer marks the ones
  // whose source may not publish them (`untrusted`) and keeps them out of the projections.
  @OnEvent('*', { durable: 'audit_ledger', concurrency: LEDGER_IN_FLIGHT, provenance: 'record' })
  async record(@Payload() event: Envelope, @Ctx() ctx: JetStreamContext): Promise<void> {
    // The ledger's own checkpoints are statements about the log, kept in audit.tree_heads; logging
    // them too would make every head grow the log and call for another head.
    if (event.type === 'AuditCheckpointSigned' && event.source === 'audit') return;
    // No trace to continue (no tracing SDK, so the transport made no span active): a span here would
    // be a no-op that still costs a context switch per event.
    if (!trace.getActiveSpan()) return this.writer.append(event, ctx.publishedEnvelope, ctx.streamSequence);
    // A child of the transport's `process …` span, which continues the publisher's trace: a backup's
    // trace ends with its events' places in the ledger.
    return inSpan('@continuity/audit', 'ledger append', { 'continuity.event.type': event.type, 'continuity.event.id': event.id, 'continuity.resource': event.resource }, () =>
      this.writer.append(event, ctx.publishedEnvelope, ctx.streamSequence),
    );
  }
}
