import { Inject, Injectable, Logger, OnApplicationShutdown } from '@nestjs/common';
import { ContinuityPublisher, checkProvenance, type Envelope } from '@continuity/contracts';
import { decideOnFailure, describeError, TransientFailure, type RetryPolicy } from '@continuity/messaging';
import { provenancePolicyOf, PUBLISHER, redactSecrets, SERVICE_CONFIG } from '@continuity/runtime';
import type { AuditConfig } from '../config/audit.config.js';
import { ChannelRefusedError, ChannelUnavailableError, sendOnce } from './channel.sender.js';
import { channelsFor, Channel, type NotificationSettings } from './notification.config.js';
import { NotificationStore } from './notification.store.js';
import { NOTIFICATION_SETTINGS } from './notification.settings.js';
import { Notice, noticeOf } from './notice.js';

/** Thrown to the transport when a channel refused for good: permanent, so the event is dead-lettered with it. */
export class NotificationRefusedError extends Error {
  override readonly name = 'NotificationRefusedError';
  readonly code = 'NOTIFY.REFUSED';
  readonly status = 400;
}

type Outcome = { status: 'delivered' | 'refused'; attempts: number; httpStatus: number | null; reason: string | null };

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

/**
 * Tells the configured channels about the events people must hear of (`noticeOf`), each channel
 * once per event and once per piece of news within the de-duplication window, retrying what can
 * succeed later without limit and recording every delivery as `NotificationDelivered`.
 *
 * Retries happen here, in the handler, not through the transport: a channel that is down is not a
 * dependency of the audit service, and the transport pauses every handler (the ledger too) while a
 * dependency is down. The message stays in flight meanwhile (the transport marks it working).
 */
@Injectable()
export class NotifierService implements OnApplicationShutdown {
  private readonly logger = new Logger('Notifier');
  private stopping = false;
  private readonly provenance;

  constructor(
    @Inject(NOTIFICATION_SETTINGS) private readonly settings: NotificationSettings,
    @Inject(SERVICE_CONFIG) config: AuditConfig,
    @Inject(PUBLISHER) private readonly publisher: ContinuityPublisher,
    private readonly store: NotificationStore,
  ) {
    this.provenance = provenancePolicyOf(config);
  }

  onApplicationShutdown() {
    this.stopping = true;
  }

  async handle(event: Envelope<string, unknown>, now = Date.now()): Promise<void> {
    const settings = this.settings;
    if (settings.channels.size === 0) return;
    const notice = noticeOf(event);
    if (!notice) return;
    // A forged failover or breach must not page anyone: only events from whoever may publish them.
    const verdict = checkProvenance(this.provenance, event, now);
    if (!verdict.trusted) {
      this.logger.warn(`not notifying ${event.type} ${event.id}: ${verdict.reason}`);
      return;
    }
    if (now - Date.parse(event.occurredAt) > settings.maxEventAgeMs) {
      this.logger.debug?.(`not notifying ${event.type} ${event.id}: older than ${settings.maxEventAgeMs} ms`);
      return;
    }
    const names = channelsFor(settings, notice.resource, notice.type, notice.severity);
    const results = await Promise.all(
      names.map(async (name) => {
        const channel = settings.channels.get(name)!;
        return { name, outcome: await this.notify(channel, notice, event, settings.dedupWindowMs, settings.retry) };
      }),
    );
    const refused = results.filter((r) => r.outcome?.status === 'refused');
    if (refused.length) throw new NotificationRefusedError(refused.map((r) => r.outcome!.reason).join('; '));
  }

  private async notify(channel: Channel, notice: Notice, event: Envelope<string, unknown>, dedupWindowMs: number, retry: { initialDelayMs: number; maxDelayMs: number }): Promise<Outcome | null> {
    const claim = await this.store.claim(channel.name, notice, dedupWindowMs);
    if (claim.decision === 'skip') return null;
    if (claim.decision === 'suppress') {
      this.logger.log(`${notice.type} ${notice.eventId} on ${notice.resource}: a repeat of news ${channel.name} was told within ${dedupWindowMs} ms; suppressed`);
      return null;
    }
    const outcome = await this.deliverWithRetries(channel, notice, retry);
    await this.publisher.publish('NotificationDelivered', {
      id: claim.noticeId,
      resource: notice.resource,
      correlationId: event.correlationId,
      causationId: event.id,
      data: {
        channel: channel.name,
        channelKind: channel.kind,
        eventId: notice.eventId,
        eventType: notice.type,
        attempts: outcome.attempts,
        outcome: outcome.status,
        httpStatus: outcome.httpStatus,
        reason: outcome.reason,
        at: new Date().toISOString(),
      },
    });
    await this.store.finish(channel.name, notice.eventId, outcome);
    return outcome;
  }

  /** Until delivered or refused for good; transient failures retried with capped, jittered back-off. */
  private async deliverWithRetries(channel: Channel, notice: Notice, retry: { initialDelayMs: number; maxDelayMs: number }): Promise<Outcome> {
    const policy: RetryPolicy = { maxDeliver: 5, poisonDeliveries: 10, ...retry };
    let lastStatus: number | null = null;
    for (let attempt = 1; ; attempt++) {
      try {
        const status = await sendOnce(channel, notice);
        if (attempt > 1) this.logger.log(`channel ${channel.name}: ${notice.type} ${notice.eventId} delivered on attempt ${attempt}`);
        return { status: 'delivered', attempts: attempt, httpStatus: status, reason: null };
      } catch (error) {
        if (error instanceof ChannelRefusedError || error instanceof ChannelUnavailableError) lastStatus = error.httpStatus;
        // An unknown failure counts its attempts as deliveries (bounded); a transient one waits without limit.
        const decision = decideOnFailure(policy, attempt, error, attempt);
        const reason = redactSecrets(error instanceof ChannelRefusedError ? error.message : describeError(error));
        if (decision.action === 'dead-letter') return { status: 'refused', attempts: attempt, httpStatus: lastStatus, reason };
        if (this.stopping) throw new TransientFailure('network', `stopping while ${channel.name} is unavailable: ${reason}`);
        this.logger.warn(`channel ${channel.name}: ${notice.type} ${notice.eventId} attempt ${attempt} failed (${reason}); next in ${decision.delayMs} ms`);
        for (let waited = 0; waited < decision.delayMs && !this.stopping; waited += 200) await sleep(Math.min(200, decision.delayMs - waited));
      }
    }
  }
}
