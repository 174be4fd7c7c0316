import { metrics } from '@opentelemetry/api';
import type { JetStreamManager } from '@nats-io/jetstream';
import type { Topology } from '@continuity/contracts';

/** This service's consumers and their dead-letter counts, from the stream's per-subject counts (pure). */
export const deadLettersOf = (service: string, namespace: string, subjects: Record<string, number>): { consumer: string; count: number }[] => {
  const prefix = `${namespace}.dlq.`;
  return Object.entries(subjects)
    .filter(([subject]) => subject.startsWith(`${prefix}${service}_`))
    .map(([subject, count]) => ({ consumer: subject.slice(prefix.length), count }));
};

/**
 * `continuity_dead_letters{consumer}`: dead letters held for each of this service's consumers
 * (`<namespace>.dlq.<consumer>`, consumers named `<service>_…`), read from the dead-letter stream's
 * per-subject counts at scrape time. Bounded: one series per consumer of the service. A scrape
 * while NATS is down reports nothing rather than stale numbers.
 */
export const registerDeadLetterGauge = (service: string, topology: Topology, jsm: () => Promise<JetStreamManager>) => {
  metrics
    .getMeter('@continuity/runtime')
    .createObservableGauge('continuity_dead_letters', { description: 'dead letters held in the dead-letter stream, by consumer' })
    .addCallback(async (result) => {
      const info = await jsm()
        .then((m) => m.streams.info(topology.deadLetterStream, { subjects_filter: `${topology.namespace}.dlq.>` }))
        .catch(() => null);
      for (const { consumer, count } of deadLettersOf(service, topology.namespace, info?.state.subjects ?? {})) result.observe(count, { consumer });
    });
};
