import { jetstream, jetstreamManager } from '@nats-io/jetstream';
import type { NatsConnection } from '@nats-io/transport-node';
import { eventSubject, Topology } from '@continuity/contracts';
import { SignedTreeHead } from '@continuity/contracts/ledger';

/** Announcements read per tamper check at most: bounded memory and time, whatever the stream holds. */
export const MAX_ANNOUNCEMENTS = 1_000_000;
const BATCH = 1_000;

export interface Announcements {
  heads: SignedTreeHead[];
  /** Messages on the subject beyond what was read (0 when all were). */
  unread: number;
  /** Messages that were not an AuditCheckpointSigned envelope (a forged or broken announcement). */
  unreadable: number;
}

/**
 * The `AuditCheckpointSigned` announcements of the ledger, oldest first, read with an ephemeral
 * ordered consumer filtered on their one subject (the audit's own durable never sees them: the
 * ledger does not record its checkpoints). At most `max` are read.
 */
export const readAnnouncements = async (nc: NatsConnection, topology: Topology, max = MAX_ANNOUNCEMENTS): Promise<Announcements> => {
  const subject = eventSubject('AuditCheckpointSigned', 'audit-ledger', topology);
  const info = await (await jetstreamManager(nc)).streams.info(topology.eventStream, { subjects_filter: subject });
  const total = info.state.subjects?.[subject] ?? 0;
  const want = Math.min(total, max);
  const heads: SignedTreeHead[] = [];
  let unreadable = 0;
  if (want === 0) return { heads, unread: total, unreadable };
  const consumer = await jetstream(nc).consumers.get(topology.eventStream, { filter_subjects: subject } /* a string: one filter_subject, as NATS 2.9 knows */);
  let read = 0;
  while (read < want) {
    let got = 0;
    for await (const msg of await consumer.fetch({ max_messages: Math.min(BATCH, want - read), expires: 2_000 })) {
      got++;
      try {
        const data = (msg.json() as { data?: SignedTreeHead }).data;
        if (data && typeof data.treeSize === 'number') heads.push(data);
        else unreadable++;
      } catch {
        unreadable++;
      }
    }
    if (got === 0) break; // the stream answered nothing in time: compare what was read
    read += got;
  }
  return { heads, unread: total - read, unreadable };
};
