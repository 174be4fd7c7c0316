import { metrics } from '@opentelemetry/api';
import type { JetStreamManager } from '@nats-io/jetstream';
import type { Topology } from '@continuity/contracts';

/**
 * `continuity_dead_letters{consumer}`: dead letters held for each of this service's consumers
 * (`<namespace>.dlq.<consumer>`, consumers named `<service>_…`), read from the dead-letter stream's
 * per-subject counts at scrape time. Bounded: one series per consumer of the service. A scrape
 * while NATS is down reports nothing rather than stale numbers.
 */
export const registerDeadLetterGauge = (service: string, topology: Topology, jsm: () => Promise<JetStreamManager>) => {
  const prefix = `${topology.namespace}.dlq.`;
  metrics
    .getMeter('@continuity/runtime')
    .createObservableGauge('continuity_dead_letters', { description: 'dead letters held in the dead-letter stream, by consumer' })
    .addCallback(async (result) => {
      const info = await (await jsm()).streams.info(topology.deadLetterStream, { subjects_filter: `${prefix}>` }).catch(() => null);
      for (const [subject, count] of Object.entries(info?.state.subjects ?? {})) {
        const consumer = subject.slice(prefix.length);
        if (consumer.startsWith(`${service}_`)) result.observe(count, { consumer });
      }
    });
};
