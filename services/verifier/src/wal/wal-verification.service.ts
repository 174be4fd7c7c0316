import { Inject, Injectable, Logger, OnApplicationBootstrap, OnApplicationShutdown } from '@nestjs/common';
import { v7 as uuidv7 } from 'uuid';
import { ContinuityEvent, ContinuityPublisher, DomainError, Envelope, WalCopy } from '@continuity/contracts';
import { PUBLISHER, redactSecrets } from '@continuity/runtime';
import { checkCopy } from '../copies/copy-check.js';
import type { CopyReaders } from '../copies/copy-reader.js';
import { READERS, WAL_STORE } from '../tokens.js';
import type { ChainGap, ChainState } from './wal-chain.js';
import { badCopiesReason, gapReason, walVerified, WalCopyOutcome } from './wal-verdict.js';
import type { WalCheckRow, WalFileRow, WalStore } from './wal.store.js';

/** A file to re-read: what was archived of it. */
interface FileToCheck {
  name: string;
  partial: boolean;
  sha256: string;
  sizeBytes: number;
  copies: WalCopy[];
}

export interface WalScrubRound {
  files: number;
  planned: number;
  checked: { resource: string; files: number; verdict: string }[];
}

/**
 * WAL chain verification: every `WalArchived` has each copy of each file it lists re-read through
 * SHA-256 (stored size and hash, as the event states them), then the resource's chain is checked
 * (wal-chain.ts) and the outcome published as `WalVerified`; a gap first seen, or a bad copy, also
 * publishes `ResourceDegraded` naming the range or the copy. Scrub rounds re-read stored WAL
 * copies on the same cadence as backups.
 *
 * Delivery guarantees: the files are recorded idempotently (a redelivered or late partial shipment
 * never replaces a finished segment); a check and the exact events it publishes are committed in
 * one transaction (keyed by the WalArchived id) before publishing, so a redelivery re-publishes the
 * same event ids (JetStream drops the duplicates) and never reports a gap twice. A WalArchived with
 * a `file://` copy outside the verifier's file roots is refused as a whole (dead-lettered with the
 * reason): nothing of it is recorded, read or reported as verified.
 */
@Injectable()
export class WalVerificationService implements OnApplicationBootstrap, OnApplicationShutdown {
  private readonly logger = new Logger('WalVerification');
  private readonly stopping = new AbortController();
  private relayTimer?: NodeJS.Timeout;

  constructor(
    @Inject(WAL_STORE) private readonly store: WalStore,
    @Inject(READERS) private readonly readers: CopyReaders,
    @Inject(PUBLISHER) private readonly publisher: ContinuityPublisher,
  ) {}

  async onArchived(event: ContinuityEvent<'WalArchived'>): Promise<WalCheckRow> {
    for (const segment of event.data.segments) {
      for (const copy of segment.copies) {
        const why = this.readers.refuses(copy.uri);
        if (why) throw new DomainError('VERIFY.WAL_COPY_REFUSED', `WalArchived ${event.id}: copy ${copy.location} of ${segment.name} is refused: ${redactSecrets(why)}`, 422);
      }
    }
    const done = await this.store.checkOf(event.id);
    if (done) {
      if (!done.publishedAt) await this.publish(done);
      return done;
    }
    await this.store.recordArchived(event);
    const outcomes = await this.checkFiles(event.data.segments);
    const row = await this.store.commitCheck({
      checkId: uuidv7(),
      eventId: event.id,
      resource: event.resource,
      trigger: 'new',
      checked: checkedOf(outcomes),
      build: (chain, newGaps) => this.events(event.resource, 'new', outcomes, chain, newGaps, { correlationId: event.correlationId, causationId: event.id }),
    });
    this.log(event.resource, row);
    await this.publish(row);
    return row;
  }

  /**
   * Re-reads every copy of every finished file (segments and history files), one after another. A
   * partial shipment is not re-read: it is superseded by the next shipment of the segment (a later
   * partial version, then the finished one) and removed a grace period after that (decision 0045),
   * so a missing copy would say nothing about the archive; it counts in the chain, and its bytes
   * are checked once the finished segment arrives.
   */
  private async checkFiles(files: readonly FileToCheck[]): Promise<WalCopyOutcome[]> {
    const outcomes: WalCopyOutcome[] = [];
    for (const file of files) {
      if (file.partial) continue;
      for (const copy of file.copies) {
        const outcome = await checkCopy(this.readers, { location: copy.location, uri: copy.uri, sha256: file.sha256, sizeBytes: file.sizeBytes }, this.stopping.signal);
        outcomes.push({ name: file.name, location: copy.location, uri: copy.uri, status: outcome.status, error: outcome.check.error });
      }
    }
    return outcomes;
  }

  private events(
    resource: string,
    trigger: 'new' | 'scrub',
    outcomes: readonly WalCopyOutcome[],
    chain: ChainState,
    newGaps: readonly ChainGap[],
    chainOf: { correlationId?: string; causationId?: string },
  ) {
    const data = walVerified({ trigger, filesChecked: new Set(outcomes.map((o) => o.name)).size, outcomes, chain, verifiedAt: new Date() });
    const verified = this.publisher.build('WalVerified', { resource, data, ...chainOf });
    const chained = { correlationId: verified.correlationId, causationId: verified.id };
    const degraded = (reason: string) =>
      this.publisher.build('ResourceDegraded', { resource, data: { member: resource, reason, formerEpoch: null, currentEpoch: 0, needs: 'attention', madeReadOnly: false }, ...chained });
    const envelopes: Envelope[] = [verified, ...newGaps.map((gap) => degraded(gapReason(resource, gap)))];
    const bad = badCopiesReason(resource, outcomes);
    if (bad) envelopes.push(degraded(bad));
    return { verdict: data.verdict, result: data, envelopes };
  }

  private log(resource: string, row: WalCheckRow) {
    const verified = row.envelopes[0] as ContinuityEvent<'WalVerified'>;
    const d = verified.data;
    const line = `${d.trigger} WAL check of ${resource}: ${d.verdict}, ${d.segmentsChecked} files re-read${d.failedCopies.length ? `, bad copies: ${d.failedCopies.map((c) => `${c.name}@${c.location}`).join(', ')}` : ''}${d.gaps.length ? `, gaps: ${d.gaps.map((g) => `${g.timeline}:${g.fromLsn}-${g.toLsn}`).join(', ')}` : ''}`;
    if (d.verdict === 'passed') this.logger.log(line);
    else this.logger.warn(line);
  }

  private async publish(row: WalCheckRow) {
    for (const envelope of row.envelopes) await this.publisher.publishEnvelope(envelope); // stored ids: a re-publish is a duplicate JetStream drops
    await this.store.markPublished(row.checkId);
  }

  /**
   * Re-reads the stored copies of `due` (the scrub scheduler's choice, scrub.policy.ts): one
   * WalVerified (trigger `scrub`) per resource touched, ResourceDegraded for a bad copy.
   */
  async scrub(due: readonly WalFileRow[], total: number): Promise<WalScrubRound> {
    const byResource = new Map<string, WalFileRow[]>();
    for (const f of due) byResource.set(f.resource, [...(byResource.get(f.resource) ?? []), f]);
    const round: WalScrubRound = { files: total, planned: due.length, checked: [] };
    for (const [resource, files] of byResource) {
      this.stopping.signal.throwIfAborted();
      const outcomes = await this.checkFiles(files);
      const row = await this.store.commitCheck({
        checkId: uuidv7(),
        eventId: null,
        resource,
        trigger: 'scrub',
        checked: checkedOf(outcomes),
        build: (chain, newGaps) => this.events(resource, 'scrub', outcomes, chain, newGaps, {}),
      });
      this.log(resource, row);
      await this.publish(row).catch((error: Error) => this.logger.warn(`publishing the WAL scrub of ${resource}: ${redactSecrets(error.message)} (relayed later)`));
      round.checked.push({ resource, files: files.length, verdict: row.verdict });
    }
    return round;
  }

  /** Checks committed but not published (a crash or NATS outage in between). */
  async relay(): Promise<number> {
    let sent = 0;
    for (const row of await this.store.unpublished()) {
      try {
        await this.publish(row);
        sent++;
      } catch (error) {
        this.logger.warn(`publishing WAL check ${row.checkId}: ${redactSecrets((error as Error).message)} (will retry)`);
        break;
      }
    }
    return sent;
  }

  async onApplicationBootstrap() {
    await this.relay().catch((error: Error) => this.logger.warn(`relay: ${redactSecrets(error.message)}`));
    this.relayTimer = setInterval(() => void this.relay().catch((error: Error) => this.logger.warn(`relay: ${redactSecrets(error.message)}`)), 30_000);
    this.relayTimer.unref();
  }

  onApplicationShutdown() {
    clearInterval(this.relayTimer);
    this.stopping.abort(Object.assign(new Error('shutting down'), { name: 'AbortError' }));
  }
}

/** Per file: ok when every copy read matched (an unverifiable copy is not a failure). */
const checkedOf = (outcomes: readonly WalCopyOutcome[]) => {
  const byName = new Map<string, boolean>();
  for (const o of outcomes) byName.set(o.name, (byName.get(o.name) ?? true) && o.status !== 'bad');
  return [...byName].map(([name, ok]) => ({ name, ok }));
};
