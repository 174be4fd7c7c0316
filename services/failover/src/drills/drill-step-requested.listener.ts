import { Controller, Inject, Logger } from '@nestjs/common';
import { Payload } from '@nestjs/microservices';
import { DeliverPolicy, jetstream } from '@nats-io/jetstream';
import type { NatsConnection } from '@nats-io/transport-node';
import { causedBy, ContinuityEvent, ContinuityPublisher, DomainError, eventSubject, FailoverRehearsedV1, type Topology } from '@continuity/contracts';
import { OnEvent } from '@continuity/messaging';
import { NATS_CONNECTION, PUBLISHER, redactSecrets, TOPOLOGY } from '@continuity/runtime';
import { FailoverSupervisors } from '../failover-decision/failover.supervisors.js';
import { NotLeaderError, SwitchoverRejectedError } from '../failover-decision/failover.errors.js';
import { decideRehearsalRequest } from './drill-request.policy.js';

/**
 * Rehearses a failover for a drill: a planned switchover to the requested standby (or the first
 * other member), then back when asked and the former primary can take it — answered with one
 * `FailoverRehearsed` caused by the request. Only the lease holder switches over: another
 * instance throws NotLeaderError so the message is redelivered (the durable consumer is shared),
 * until the request's deadline, after which it is answered failed without switching anything.
 *
 * Delivery guarantee: a request is acted on at most once. Before switching anything the handler
 * looks for an answer to it already on the stream (a redelivery after a crash between publishing
 * the answer and the ack, or on another instance), and then only acks.
 */
@Controller()
export class RehearseFailoverOnDrillStepRequested {
  private readonly logger = new Logger('DrillRehearsal');
  private readonly answered = new Set<string>();

  constructor(
    private readonly supervisors: FailoverSupervisors,
    @Inject(PUBLISHER) private readonly publisher: ContinuityPublisher,
    @Inject(NATS_CONNECTION) private readonly nc: NatsConnection,
    @Inject(TOPOLOGY) private readonly topology: Topology,
  ) {}

  /** Whether the stream already holds a FailoverRehearsed for this request (drill answers are few per resource). */
  private async answeredOnStream(event: ContinuityEvent<'DrillStepRequested'>): Promise<boolean> {
    const consumer = await jetstream(this.nc).consumers.get(this.topology.eventStream, {
      filter_subjects: eventSubject('FailoverRehearsed', event.resource, this.topology),
      deliver_policy: DeliverPolicy.StartTime,
      opt_start_time: event.occurredAt,
    });
    try {
      for (;;) {
        let read = 0;
        let pending = 0;
        for await (const msg of await consumer.fetch({ max_messages: 100, expires: 1_000 })) {
          read++;
          pending = msg.info.pending;
          const answer = msg.json<ContinuityEvent<'FailoverRehearsed'>>();
          if (answer.source === 'failover' && answer.data?.requestId === event.id) return true;
        }
        if (read === 0 || pending === 0) return false;
      }
    } finally {
      await consumer.delete().catch(() => undefined);
    }
  }

  @OnEvent('DrillStepRequested')
  async onRequested(@Payload() event: ContinuityEvent<'DrillStepRequested'>) {
    if (this.answered.has(event.id) || (await this.answeredOnStream(event))) return;
    const decision = decideRehearsalRequest(event, Date.now(), this.supervisors.all().map((s) => s.resource));
    if (decision.action === 'refuse') {
      this.logger.warn(`${event.resource}: ${decision.reason}`);
      return;
    }
    if (decision.action === 'answer-failed') return this.answer(event, failedAnswer(event, decision.reason));
    const supervisor = this.supervisors.get(event.resource);
    const status = supervisor.status();
    // Not the lease holder: let the message go back to the shared consumer for the instance that is.
    if (!status.leader) throw new NotLeaderError(event.resource, null);
    const from = status.primary;
    const to = event.data.standby ?? status.members.find((m) => m.name !== from)?.name ?? null;
    if (!from || !to) return this.answer(event, failedAnswer(event, `${event.resource} has ${from ? 'no standby' : 'no known primary'} to switch over`));
    let forward;
    try {
      forward = await this.supervisors.switchover(event.resource, to);
    } catch (error) {
      if (error instanceof NotLeaderError) throw error;
      return this.answer(event, { ...failedAnswer(event, describe(error)), from, to });
    }
    let switchBack: FailoverRehearsedV1['switchBack'] = { outcome: 'skipped', rtoMs: null, reason: 'not requested' };
    if (event.data.switchBack) {
      try {
        const back = await this.supervisors.switchover(event.resource, from);
        switchBack = { outcome: 'completed', rtoMs: back.rtoMs, reason: null };
      } catch (error) {
        // A switchover fences the former primary (it needs a rewind before it can be a standby again): then the way back is an operator's.
        switchBack = { outcome: error instanceof SwitchoverRejectedError ? 'skipped' : 'failed', rtoMs: null, reason: describe(error) };
      }
    }
    return this.answer(event, {
      drillId: event.data.drillId,
      requestId: event.id,
      outcome: 'completed',
      from: forward.from,
      to: forward.to,
      failoverId: forward.failoverId,
      rtoMs: forward.rtoMs,
      dataLostBytes: forward.replicationLagBytes ?? 0,
      switchBack,
      reason: null,
    });
  }

  private async answer(event: ContinuityEvent<'DrillStepRequested'>, data: FailoverRehearsedV1) {
    await this.publisher.publish('FailoverRehearsed', { resource: event.resource, data, ...causedBy(event) });
    this.answered.add(event.id);
    this.logger.log(`${event.resource}: drill ${data.drillId} failover ${data.outcome}${data.reason ? `: ${data.reason}` : ''}`);
  }
}

const describe = (error: unknown) => redactSecrets(error instanceof DomainError ? `${error.code}: ${error.message}` : (error as Error).message).slice(0, 4_000);

const failedAnswer = (event: ContinuityEvent<'DrillStepRequested'>, reason: string): FailoverRehearsedV1 => ({
  drillId: event.data.drillId,
  requestId: event.id,
  outcome: 'failed',
  from: null,
  to: null,
  failoverId: null,
  rtoMs: null,
  dataLostBytes: null,
  switchBack: { outcome: 'skipped', rtoMs: null, reason: 'the switchover did not happen' },
  reason: reason.slice(0, 4_000),
});
