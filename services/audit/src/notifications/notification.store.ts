import { Injectable } from '@nestjs/common';
import { InjectDataSource } from '@nestjs/typeorm';
import { DataSource } from 'typeorm';
import { v7 as uuidv7 } from 'uuid';
import type { Notice } from './notice.js';

export type ClaimStatus = 'pending' | 'delivered' | 'refused' | 'suppressed';

/** What to do about one (channel, event), from what the table holds. Pure. */
export const claimDecision = (own: ClaimStatus | null, sameNewsWithinWindow: boolean): 'deliver' | 'skip' | 'suppress' => {
  if (own === 'delivered' || own === 'suppressed') return 'skip'; // a redelivery: already done
  if (own === 'pending' || own === 'refused') return 'deliver'; // a crash mid-delivery, or a replayed dead letter
  return sameNewsWithinWindow ? 'suppress' : 'deliver';
};

export interface Claim {
  decision: 'deliver' | 'skip' | 'suppress';
  /** The id the NotificationDelivered event gets: the same on every retry, so JetStream drops a re-publish. */
  noticeId: string;
}

/** The notifications table (`audit.notifications`): claims and outcomes. */
@Injectable()
export class NotificationStore {
  constructor(@InjectDataSource() private readonly dataSource: DataSource) {}

  async claim(channel: string, notice: Notice, dedupWindowMs: number): Promise<Claim> {
    return this.dataSource.transaction(async (tx) => {
      // Serializes claims of the same news on one channel across instances.
      await tx.query(`select pg_advisory_xact_lock(hashtextextended($1, 28))`, [JSON.stringify([channel, notice.type, notice.resource, notice.key])]);
      const own = (await tx.query(`select status, notice_id from audit.notifications where channel = $1 and event_id = $2`, [channel, notice.eventId])) as { status: ClaimStatus; notice_id: string }[];
      const [same] = own.length
        ? [[]]
        : [
            (await tx.query(
              `select 1 from audit.notifications
                where channel = $1 and event_type = $2 and resource = $3 and dedup_key = $4 and event_id <> $5
                  and status in ('pending', 'delivered') and claimed_at > now() - make_interval(secs => $6::double precision / 1000)
                limit 1`,
              [channel, notice.type, notice.resource, notice.key, notice.eventId, dedupWindowMs],
            )) as unknown[],
          ];
      const decision = claimDecision(own[0]?.status ?? null, same.length > 0);
      if (own[0]) {
        if (decision === 'deliver') await tx.query(`update audit.notifications set status = 'pending' where channel = $1 and event_id = $2`, [channel, notice.eventId]);
        return { decision, noticeId: own[0].notice_id };
      }
      const noticeId = uuidv7();
      await tx.query(
        `insert into audit.notifications (channel, event_id, event_type, resource, dedup_key, status, notice_id) values ($1, $2, $3, $4, $5, $6, $7)`,
        [channel, notice.eventId, notice.type, notice.resource, notice.key, decision === 'suppress' ? 'suppressed' : 'pending', noticeId],
      );
      return { decision, noticeId };
    });
  }

  async finish(channel: string, eventId: string, outcome: { status: 'delivered' | 'refused'; attempts: number; httpStatus: number | null; reason: string | null }): Promise<void> {
    await this.dataSource.query(
      `update audit.notifications set status = $3, attempts = attempts + $4, http_status = $5, reason = $6, finished_at = now() where channel = $1 and event_id = $2`,
      [channel, eventId, outcome.status, outcome.attempts, outcome.httpStatus, outcome.reason],
    );
  }
}
