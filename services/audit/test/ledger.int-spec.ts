import type { NatsConnection } from '@nats-io/transport-node';
import { jetstream } from '@nats-io/jetstream';
import { Envelope, eventSubject, continuityEvents } from '@continuity/contracts';
import { aBackupCreatedData, aFailoverCompletedData, anEvent, anIntegrityVerifiedData, ownersPublisher } from '@continuity/contracts/testing';
import { connectTestNats, createTestTopology, pollUntil, readDeadLetters } from '@continuity/messaging/testing';
import { createTestDatabase } from '@continuity/runtime/testing';
import { Client } from 'pg';
import { consistencyProofRanges, entryInHead, envelopeLeafHash, fromHex, inclusionProofRanges, perfectCover, rootFromLeafHashes, verifyConsistency, verifyEntriesInHead, verifyHeadWithPinnedKeys, verifyInclusion, verifyTreeHead } from '@continuity/contracts/ledger';
import { consistencyHashesSql, inclusionHashesSql } from '../src/ledger/ledger.queries.js';
import { SNAPSHOT_EVERY } from '../src/resource-state/projection-fold.js';
import { evolveResourceState, ResourceState } from '../src/resource-state/resource-state.projection.js';
import { AUDITOR, OPERATOR, startAudit } from './harness.js';

describe('audit ledger (real NATS and PostgreSQL)', () => {
  let nc: NatsConnection;
  let topology: Awaited<ReturnType<typeof createTestTopology>>;
  let db: Awaited<ReturnType<typeof createTestDatabase>>;
  let audit: Awaited<ReturnType<typeof startAudit>>;
  let publisher: ReturnType<typeof ownersPublisher>;

  beforeAll(async () => {
    nc = await connectTestNats();
    topology = await createTestTopology(nc, 'aud');
    db = await createTestDatabase('audit');
    audit = await startAudit(db.url, topology.namespace);
    publisher = ownersPublisher(jetstream(nc), { topology });
  });

  afterAll(async () => {
    await audit?.app.close();
    await topology?.remove();
    await db?.drop();
    await nc?.close();
  });

  /** All ledger entries (every page), oldest first. */
  const allEntries = async (): Promise<any[]> => {
    const out: any[] = [];
    let cursor: number | null = null;
    do {
      const { body } = await audit.get(`/audit/events?limit=1000${cursor !== null ? `&cursor=${cursor}` : ''}`);
      out.push(...body.events);
      cursor = body.nextCursor;
    } while (cursor !== null);
    return out;
  };
  const waitForEvents = (ids: string[]) =>
    pollUntil(async () => {
      const entries = await allEntries();
      return ids.every((id) => entries.some((e) => e.eventId === id)) ? entries : null;
    }, { what: `${ids.length} events in the ledger` });

  const publishStory = async (resource: string) => {
    const backup = aBackupCreatedData({ recoveryPoint: new Date(Date.now() - 60_000).toISOString() });
    const created = await publisher.publish('BackupCreated', { resource, data: backup });
    const verified = await publisher.publish('IntegrityVerified', {
      resource,
      data: anIntegrityVerifiedData({
        backupId: backup.backupId,
        copies: backup.copies.map((c) => ({ ...c, readable: true, sizeMatch: true, hashMatch: true, actualSha256: c.sha256, durationMs: 1, mbPerSec: 1, error: null })).map(({ site, medium, sha256, sizeBytes, ...rest }) => rest),
      }),
      ...{ correlationId: created.event.correlationId, causationId: created.event.id },
    });
    const failover = await publisher.publish('FailoverCompleted', { resource, data: aFailoverCompletedData() });
    return [created.event, verified.event, failover.event];
  };

  it('appends every event with contiguous indices and the leaf hash of the envelope as published', async () => {
    const events = await publishStory('orders-db');
    const entries = await waitForEvents(events.map((e) => e.id));
    expect(entries.map((e) => e.logIndex)).toEqual(entries.map((_, i) => i));
    for (const event of events) {
      const entry = entries.find((e) => e.eventId === event.id);
      expect(entry).toMatchObject({ type: event.type, resource: 'orders-db', envelope: event });
      expect(entry.leafHash).toBe(envelopeLeafHash(event).toString('hex'));
    }
  });

  it('keeps one entry when the same event is published twice and delivered twice', async () => {
    const event = anEvent('BackupCreated', { resource: 'dupe-db' });
    const js = jetstream(nc);
    // No Nats-Msg-Id: JetStream stores both copies, so the audit consumer sees the event twice.
    await js.publish(eventSubject('BackupCreated', 'dupe-db', topology), JSON.stringify(event));
    await js.publish(eventSubject('BackupCreated', 'dupe-db', topology), JSON.stringify(event));
    const marker = await publisher.publish('BackupCreated', { resource: 'dupe-db', data: aBackupCreatedData() });
    const entries = await waitForEvents([event.id, marker.event.id]);
    expect(entries.filter((e) => e.eventId === event.id)).toHaveLength(1);
    expect(entries.map((e) => e.logIndex)).toEqual(entries.map((_, i) => i));
  });

  it('treats an upper-case event id as the same event', async () => {
    const event = anEvent('BackupCreated', { resource: 'case-db' });
    const upper = { ...event, id: event.id.toUpperCase() };
    const js = jetstream(nc);
    await js.publish(eventSubject('BackupCreated', 'case-db', topology), JSON.stringify(upper));
    const marker = await publisher.publish('BackupCreated', { resource: 'case-db', data: aBackupCreatedData() });
    await waitForEvents([event.id, marker.event.id].map((id) => id));
    await js.publish(eventSubject('BackupCreated', 'case-db', topology), JSON.stringify(upper));
    await js.publish(eventSubject('BackupCreated', 'case-db', topology), JSON.stringify(event));
    const second = await publisher.publish('BackupCreated', { resource: 'case-db', data: aBackupCreatedData() });
    const entries = await waitForEvents([second.event.id]);
    expect(entries.filter((e) => e.eventId === event.id)).toHaveLength(1);
  });

  it('isolates an event the database refuses, so the rest of its batch is recorded at once', async () => {
    const poison = anEvent('BackupCreated', { resource: 'nul-db', source: 'bad\u0000source' });
    const good = Array.from({ length: 20 }, () => anEvent('BackupCreated', { resource: 'nul-db' }));
    const js = jetstream(nc);
    await Promise.all([poison, ...good].map((e) => js.publish(eventSubject('BackupCreated', 'nul-db', topology), JSON.stringify(e))));
    const entries = await waitForEvents(good.map((e) => e.id));
    expect(entries.some((e) => e.eventId === poison.id)).toBe(false);
    const letter = await pollUntil(async () => (await readDeadLetters(nc, topology)).find((l) => new TextDecoder().decode(l.payload).includes(poison.id)), {
      timeoutMs: 30_000,
      what: 'the refused event in the dead-letter stream',
    });
    // PostgreSQL refused the data itself (SQLSTATE 22P05): no redelivery can fix it, so it is not retried.
    expect(letter.reason).toMatch(/^permanent failure .*unsupported Unicode escape sequence \(SQLSTATE 22P05\)/);
    expect(letter.deliveryCount).toBe(1);
  }, 40_000);

  it('dead-letters an invalid event with the reason and goes on', async () => {
    const bad = anEvent('FailoverCompleted', { resource: 'bad-db' });
    const ack = await jetstream(nc).publish(eventSubject('FailoverCompleted', 'bad-db', topology), JSON.stringify({ ...bad, data: { rtoMs: 'fast' } }));
    // The ledger's own dead letter (the notifier's consumer of FailoverCompleted dead-letters it too).
    const letter = await pollUntil(async () => (await readDeadLetters(nc, topology)).find((l) => l.streamSequence === ack.seq && l.consumer === 'audit_ledger'), {
      what: 'the dead letter',
    });
    expect(letter.consumer).toBe('audit_ledger');
    expect(letter.reason).toContain('data.rtoMs');
  });

  it('signs tree heads that verify with the served public key and match the recomputed root', async () => {
    const { body: key } = await audit.get('/audit/public-key', null);
    const size = (await allEntries()).length;
    const head = await pollUntil(async () => {
      const { body } = await audit.get('/audit/tree-heads/latest');
      return body?.treeSize >= size ? body : null;
    }, { what: 'a signed head covering the log' });
    expect(verifyTreeHead(head, key.publicKeyPem)).toBe(true);
    expect(verifyTreeHead({ ...head, treeSize: head.treeSize + 1 }, key.publicKeyPem)).toBe(false);
    const { body: exported } = await audit.get(`/audit/export?to=${head.treeSize}`);
    const leaves = exported.entries.map((e: any) => envelopeLeafHash(e.envelope));
    expect(rootFromLeafHashes(leaves).toString('hex')).toBe(head.rootHash);
    expect(exported.signedHead.treeSize).toBeGreaterThanOrEqual(head.treeSize);
  });

  it('serves inclusion proofs that verify against the latest signed head', async () => {
    const [created] = await publishStory('billing-db');
    await waitForEvents([created!.id]);
    const { body } = await pollUntil(async () => {
      const res = await audit.get(`/audit/events/${created!.id}`);
      return res.body?.inclusion ? res : null;
    }, { what: 'a signed head covering the event' });
    const ok = verifyInclusion(
      fromHex(body.leafHash),
      body.logIndex,
      body.inclusion.treeSize,
      body.inclusion.proof.map(fromHex),
      fromHex(body.signedHead.rootHash),
    );
    expect(ok).toBe(true);
    expect(verifyInclusion(fromHex(body.leafHash), body.logIndex + 1, body.inclusion.treeSize, body.inclusion.proof.map(fromHex), fromHex(body.signedHead.rootHash))).toBe(false);
  });

  it('serves each entry with an inclusion proof that verifies in every tree containing it, read in one statement', async () => {
    const stories = [];
    for (let i = 0; i < 8; i++) stories.push(...(await publishStory(`every-tree-db-${i}`)));
    await waitForEvents(stories.map((e) => e.id));
    const entries = (await allEntries()).slice(0, 24);
    expect(entries.length).toBe(24);
    const leaves = entries.map((e) => fromHex(e.leafHash));
    // Every entry against every tree size from its own up to 24: each proof shape the stored subtrees make.
    for (const entry of entries) {
      for (let size = entry.logIndex + 1; size <= entries.length; size++) {
        const { status, body } = await audit.get(`/audit/events/${entry.eventId}?treeSize=${size}`);
        expect(status).toBe(200);
        const root = rootFromLeafHashes(leaves.slice(0, size));
        expect({ index: entry.logIndex, size, ok: verifyInclusion(leaves[entry.logIndex]!, entry.logIndex, size, body.inclusion.proof.map(fromHex), root) }).toEqual({ index: entry.logIndex, size, ok: true });
      }
      // A tree the entry is not in: no proof.
      if (entry.logIndex > 0) expect((await audit.get(`/audit/events/${entry.eventId}?treeSize=${entry.logIndex}`)).body.inclusion).toBeNull();
    }
  });

  /**
   * Runs `body` with `check(a, b)`: the (level, idx) rows of the CTE `cte` of `sql` (made with $1 = a,
   * $2 = b) against the perfect subtrees covering `ranges(a, b)`, and `rows(a, b)`: the rows alone.
   */
  const withCoverCheck = async (
    sql: string,
    cte: string,
    ranges: (a: number, b: number) => { start: number; size: number }[],
    body: (check: (a: number, b: number) => Promise<void>, rows: (a: number, b: number) => Promise<unknown[]>) => Promise<void>,
  ) => {
    const client = new Client({ connectionString: db.url });
    await client.connect();
    try {
      const cover = `with ${sql} select level, idx::text as idx from ${cte}`;
      const rows = async (a: number, b: number) => (await client.query<{ level: number; idx: string }>(cover, [a, b])).rows;
      const check = async (a: number, b: number) => {
        const expected = ranges(a, b)
          .flatMap((r) => perfectCover(r.start, r.size))
          .map((p) => `${Math.log2(p.size)}:${p.start / p.size}`)
          .sort();
        expect({ a, b, cover: (await rows(a, b)).map((r) => `${r.level}:${r.idx}`).sort() }).toEqual({ a, b, cover: expected });
      };
      await body(check, rows);
    } finally {
      await client.end();
    }
  };

  it('lists, in SQL, exactly the stored subtrees an inclusion proof needs, for every leaf of small trees and for trees up to 2^52', async () => {
    await withCoverCheck(inclusionHashesSql('$1::bigint', '$2::bigint'), 'inclusion_cover', inclusionProofRanges, async (check, rows) => {
      for (let size = 1; size <= 40; size++) for (let index = 0; index < size; index++) await check(index, size);
      for (const size of [1_003_000, 2 ** 31 + 5, 2 ** 40 - 1, 2 ** 52 + 3]) for (const index of [0, 1, Math.floor(size / 2), size - 2, size - 1]) await check(index, size);
      // Not in the tree: nothing to read.
      expect(await rows(7, 7)).toEqual([]);
    });
  });

  it('lists, in SQL, exactly the stored subtrees a consistency proof needs, for every pair of small trees and for trees up to 2^52', async () => {
    await withCoverCheck(consistencyHashesSql('$1::bigint', '$2::bigint'), 'consistency_cover', consistencyProofRanges, async (check, rows) => {
      for (let to = 2; to <= 40; to++) for (let from = 1; from < to; from++) await check(from, to);
      for (const to of [1_003_000, 2 ** 31 + 5, 2 ** 40 - 1, 2 ** 52 + 3]) for (const from of [1, 2, 3, 2 ** 19, 2 ** 19 + 1, 2 ** 19 + 2 ** 10, Math.floor(to / 2), to - 2, to - 1]) await check(from, to);
      // Nothing to prove between equal trees, from the empty tree or backwards: nothing to read.
      for (const [from, to] of [[7, 7], [0, 7], [8, 7]]) expect(await rows(from!, to!)).toEqual([]);
    });
  });

  it('serves a page of events within the tree of a signed head with one multi-leaf proof of the whole page', async () => {
    const story = await publishStory('ledger-page-db');
    await waitForEvents(story.map((e) => e.id));
    const size = (await allEntries()).length;
    const head = await pollUntil(async () => {
      const { body } = await audit.get('/audit/tree-heads/latest');
      return body?.treeSize >= size ? body : null;
    }, { what: 'a signed head covering the log' });
    const { body: keys } = await audit.get('/audit/public-keys', null);
    const { body: key } = await audit.get('/audit/public-key', null);
    expect(verifyHeadWithPinnedKeys(head, [key.publicKeyPem], keys.keys)).toMatchObject({ ok: true });
    // Scattered entries (one resource among others), paged: every page proves on its own.
    const pages: any[] = [];
    for (let cursor: number | null = -1; cursor !== null; ) {
      const { status, body } = await audit.get(`/audit/events?resource=ledger-page-db&limit=2&treeSize=${head.treeSize}${cursor >= 0 ? `&cursor=${cursor}` : ''}`);
      expect(status).toBe(200);
      pages.push(body);
      cursor = body.nextCursor;
    }
    expect(pages.flatMap((p) => p.events.map((e: any) => e.eventId))).toEqual(story.map((e) => e.id));
    for (const page of pages) expect(verifyEntriesInHead(page.events, page.proof, head)).toMatchObject({ ok: true });
    // A changed envelope is caught against the same proof.
    const [first] = pages;
    const forged = first.events.map((e: any, i: number) => (i === 0 ? { ...e, envelope: { ...e.envelope, resource: 'other-db' }, leafHash: undefined } : e));
    expect(verifyEntriesInHead(forged, first.proof, head)).toMatchObject({ ok: false, check: 'inclusion' });
    // Entries past the tree are not served; a tree larger than the ledger is a 404, a size of 0 a 400.
    const { body: early } = await audit.get(`/audit/events?resource=ledger-page-db&treeSize=${first.events[0].logIndex + 1}`);
    expect(early.events.map((e: any) => e.logIndex)).toEqual([first.events[0].logIndex]);
    expect(verifyEntriesInHead(early.events, early.proof, head)).toMatchObject({ ok: false, check: 'inclusion' }); // a proof for another tree
    expect((await audit.get(`/audit/events?treeSize=${size + 1000}`)).status).toBe(404);
    expect((await audit.get('/audit/events?treeSize=0')).status).toBe(400);
    // One entry alone, against the same tree: its own inclusion proof.
    const one = first.events[1];
    const { body: alone } = await audit.get(`/audit/events/${one.eventId}?treeSize=${head.treeSize}`);
    expect(alone.inclusion.treeSize).toBe(head.treeSize);
    expect(entryInHead(one, alone.inclusion.proof, head)).toBe(true);
    expect((await audit.get(`/audit/events/${one.eventId}?treeSize=${size + 1000}`)).status).toBe(404);
  });

  it('serves consistency proofs between signed heads', async () => {
    await publishStory('orders-db');
    const heads = await pollUntil(async () => {
      const { body } = await audit.get('/audit/tree-heads');
      return body.heads.length >= 2 ? body.heads : null;
    }, { what: 'two signed heads' });
    const [older, newer] = [heads[0], heads[heads.length - 1]];
    const { body } = await audit.get(`/audit/proofs/consistency?from=${older.treeSize}&to=${newer.treeSize}`);
    expect(verifyConsistency(older.treeSize, newer.treeSize, fromHex(older.rootHash), fromHex(newer.rootHash), body.proof.map(fromHex))).toBe(true);
  });

  it('gives the state at a past time as the fold of the entries recorded by then, with its head and proof', async () => {
    const times: Date[] = [];
    for (let round = 0; round < 3; round++) {
      const events = await publishStory('history-db');
      await waitForEvents(events.map((e) => e.id));
      times.push(new Date());
      await pollUntil(() => Date.now() > times[times.length - 1]!.getTime() + 5, { what: 'the clock to move on' });
    }
    const entries = await allEntries();
    for (const at of times) {
      const recorded = entries.filter((e) => Date.parse(e.recordedAt) <= at.getTime());
      const expected = recorded
        .filter((e) => e.resource === 'history-db')
        .reduce<ResourceState | null>(
          (state, e) => evolveResourceState(state, { logIndex: e.logIndex, recordedAt: e.recordedAt, event: continuityEvents.parse(e.envelope) as Envelope }),
          null,
        );
      const { status, body } = await pollUntil(async () => {
        const res = await audit.get(`/audit/resources/history-db/state?at=${at.toISOString()}`);
        return res.body?.consistency ? res : null;
      }, { what: 'a signed head covering the state' });
      expect(status).toBe(200);
      expect(body.treeSize).toBe(recorded.length);
      expect(body.state).toEqual(expected);
      expect(body.signedHead.treeSize).toBeGreaterThanOrEqual(body.treeSize);
      const latest = body.latestSignedHead;
      const { body: old } = await audit.get(`/audit/tree-heads?size=${body.treeSize}`);
      expect(old.treeSize).toBeGreaterThanOrEqual(body.treeSize);
      const oldRoot = rootFromLeafHashes(entries.slice(0, body.treeSize).map((e) => fromHex(e.leafHash)));
      expect(verifyConsistency(body.treeSize, latest.treeSize, oldRoot, fromHex(latest.rootHash), body.consistency.proof.map(fromHex))).toBe(true);
    }
  });

  it('gives the state at a past time from the nearest snapshot plus the entries after it, equal to the fold of the whole log', async () => {
    // More than two snapshots' worth of entries of one resource, recorded in waves at distinct times.
    const times: Date[] = [];
    for (let wave = 0; wave < 5; wave++) {
      const published = await Promise.all(
        Array.from({ length: Math.ceil((2.5 * SNAPSHOT_EVERY) / 5) }, () => publisher.publish('BackupCreated', { resource: 'snapshot-db', data: aBackupCreatedData() })),
      );
      await waitForEvents(published.map((p) => p.event.id));
      times.push(new Date());
      await pollUntil(() => Date.now() > times[times.length - 1]!.getTime() + 5, { what: 'the clock to move on' });
    }
    const entries = await allEntries();
    expect(entries.filter((e) => e.resource === 'snapshot-db').length).toBeGreaterThan(2 * SNAPSHOT_EVERY);
    for (const at of times) {
      const expected = entries
        .filter((e) => Date.parse(e.recordedAt) <= at.getTime() && e.resource === 'snapshot-db')
        .reduce<ResourceState | null>(
          (state, e) => evolveResourceState(state, { logIndex: e.logIndex, recordedAt: e.recordedAt, event: continuityEvents.parse(e.envelope) as Envelope }),
          null,
        );
      const { status, body } = await audit.get(`/audit/resources/snapshot-db/state?at=${at.toISOString()}`);
      expect(status).toBe(200);
      expect(body.treeSize).toBe(entries.filter((e) => Date.parse(e.recordedAt) <= at.getTime()).length);
      expect(body.state).toEqual(expected);
    }
    const { body: before } = await audit.get('/audit/resources/snapshot-db/state?at=2000-01-01T00:00:00Z');
    expect(before).toMatchObject({ treeSize: 0, state: null, assessment: null, signedHead: null, consistency: null });
  });

  it('rebuilds every projection from the log with identical results', async () => {
    const before = (await allEntries()).length;
    const { status, body } = await audit.post('/audit/projections/rebuild?apply=true');
    expect(status).toBe(200);
    expect(body).toMatchObject({ identical: true, differences: [], applied: true });
    expect(body.resources).toBeGreaterThanOrEqual(4);
    expect(body.entries).toBeGreaterThanOrEqual(before); // a checkpoint event may land in between
    const again = await audit.post('/audit/projections/rebuild');
    expect(again.body).toMatchObject({ identical: true, applied: false });
  });

  it('answers 401 without a token, 403 for the wrong role, 200 otherwise; health and public key stay open', async () => {
    expect((await audit.get('/audit/tree-heads/latest', null)).status).toBe(401);
    expect((await audit.get('/audit/tree-heads/latest', 'not-a-known-token')).status).toBe(401);
    expect((await audit.post('/audit/tree-heads', AUDITOR)).status).toBe(403);
    expect((await audit.post('/audit/tree-heads', OPERATOR)).status).toBe(201);
    expect((await audit.get('/audit/tree-heads/latest', AUDITOR)).status).toBe(200);
    expect((await audit.get('/audit/public-key', null)).status).toBe(200);
    expect((await audit.get('/health/live', null)).status).toBe(200);
  });

  it('answers 400 naming the bad parameter', async () => {
    const at = await audit.get('/audit/resources/orders-db/state?at=yesterday');
    expect(at.status).toBe(400);
    expect(at.body.message).toContain('at: must be an ISO-8601 time');
    const proof = await audit.get('/audit/proofs/consistency?from=5&to=2');
    expect(proof.status).toBe(400);
    expect(proof.body.message).toContain('from: from must be ≤ to');
    const resource = await audit.get('/audit/resources/orders.db/state');
    expect(resource.status).toBe(400);
    expect(resource.body.message).toContain('resource:');
    const limit = await audit.get('/audit/events?limit=0');
    expect(limit.body.issues).toEqual([{ path: 'limit', message: 'must be ≥ 1 (got "0")' }]);
  });
});
