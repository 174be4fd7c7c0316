import { DeliverPolicy, jetstream } from '@nats-io/jetstream';
import type { NatsConnection } from '@nats-io/transport-node';
import { continuityEvents, ContinuityEvent, eventSubject, type DrillStepRequestedV1, type Envelope, type FailoverRehearsedV1, type Topology } from '@continuity/contracts';
import type { ResolvedDrill } from '../config/backup-config.loader.js';
import type { MeasuredStep } from './drill.decider.js';

export interface FailoverStepDeps {
  nc: NatsConnection;
  topology: Topology;
  /** Records and publishes the request (through the catalogue's outbox); returns the envelope. */
  request: (resource: string, data: DrillStepRequestedV1) => Promise<Envelope>;
}

export interface FailoverStepResult extends MeasuredStep {
  standby: string | null;
  dataLostBytes: number | null;
}

/**
 * The failover step of a drill, as a request/answer over events: `DrillStepRequested` to the
 * failover service, then its `FailoverRehearsed` (caused by the request, from `failover` alone)
 * is awaited on an ordered consumer of that one subject, until the step's deadline — no answer
 * by then (the failover service down, no leader) fails the step saying so. The answer is read
 * from the stream, so it reaches whichever backup instance runs the drill.
 */
export const runFailoverStep = async (deps: FailoverStepDeps, drill: ResolvedDrill, drillId: string): Promise<FailoverStepResult> => {
  const startedAt = new Date();
  const deadline = new Date(startedAt.getTime() + drill.stepTimeoutMs);
  const base = { step: 'failover' as const, startedAt, checks: [] };
  const subject = eventSubject('FailoverRehearsed', drill.resourceName, deps.topology);
  const consumer = await jetstream(deps.nc).consumers.get(deps.topology.eventStream, {
    filter_subjects: subject,
    deliver_policy: DeliverPolicy.StartTime,
    opt_start_time: new Date(startedAt.getTime() - 1_000).toISOString(),
  });
  try {
    const request = await deps.request(drill.resourceName, {
      drillId,
      step: 'failover',
      standby: drill.failover?.standby ?? null,
      switchBack: drill.failover?.switchBack ?? true,
      deadline: deadline.toISOString(),
    });
    const answer = await awaitAnswer(consumer, request.id, deadline);
    const finishedAt = new Date();
    if (!answer) {
      return { ...base, finishedAt, rtoMs: null, rpoMs: null, error: `the failover service did not answer within ${(drill.stepTimeoutMs / 1000).toFixed(1)} s (stepTimeoutMs): is it running, with a leader for ${drill.resourceName}?`, standby: null, dataLostBytes: null };
    }
    const data: FailoverRehearsedV1 = answer.data;
    if (data.outcome === 'failed') return { ...base, finishedAt, rtoMs: data.rtoMs, rpoMs: null, error: `the failover service could not switch over: ${data.reason ?? 'no reason given'}`, standby: data.to, dataLostBytes: data.dataLostBytes };
    const back = data.switchBack.outcome === 'failed' ? `; switching back failed: ${data.switchBack.reason}` : '';
    return {
      ...base,
      finishedAt,
      rtoMs: data.rtoMs,
      // A switchover loses nothing when the standby replayed the primary's final position; bytes lost mean data lost.
      rpoMs: data.dataLostBytes === 0 ? 0 : null,
      error: back ? `switched over to ${data.to}${back}` : null,
      standby: data.to,
      dataLostBytes: data.dataLostBytes,
    };
  } finally {
    await consumer.delete().catch(() => undefined);
  }
};

type Ordered = Awaited<ReturnType<ReturnType<typeof jetstream>['consumers']['get']>>;

const awaitAnswer = async (consumer: Ordered, requestId: string, deadline: Date): Promise<ContinuityEvent<'FailoverRehearsed'> | null> => {
  while (Date.now() < deadline.getTime()) {
    const expires = Math.max(1_000, Math.min(5_000, deadline.getTime() - Date.now()));
    for await (const msg of await consumer.fetch({ max_messages: 100, expires })) {
      let event: ContinuityEvent;
      try {
        event = continuityEvents.parse(msg.json()) as ContinuityEvent;
      } catch {
        continue; // not a valid event: not an answer
      }
      // Only the failover service answers (the provenance rule the NATS permissions also enforce).
      if (event.type === 'FailoverRehearsed' && event.source === 'failover' && event.data.requestId === requestId) return event;
    }
  }
  return null;
};
