import type { NatsConnection } from '@nats-io/transport-node';
import { Client } from 'pg';
import { connectTestNats, createTestTopology } from '@continuity/messaging/testing';
import { createTestDatabase } from '@continuity/runtime/testing';
import { baseBackup, dump, entry, fold, verdict, verifiedBackup, walShipment } from './findings-fixtures.js';
import { AUDITOR, startAudit } from './harness.js';

const RESOURCES = 3_000;

describe('the estate of thousands of resources (real PostgreSQL and HTTP)', () => {
  let nc: NatsConnection;
  let topology: Awaited<ReturnType<typeof createTestTopology>>;
  let db: Awaited<ReturnType<typeof createTestDatabase>>;
  let audit: Awaited<ReturnType<typeof startAudit>>;

  beforeAll(async () => {
    nc = await connectTestNats();
    topology = await createTestTopology(nc, 'estate');
    db = await createTestDatabase('audit');
    audit = await startAudit(db.url, topology.namespace);
    // Projections generated directly, as the writer stores them: the report must not need the log.
    const b = dump(0);
    const templates = [
      fold([...verifiedBackup(baseBackup(0), 0), entry('WalArchived', walShipment(9, 1), 9)]),
      fold([...verifiedBackup(b, 0), entry('IntegrityVerified', verdict(b, ['offsite'], { trigger: 'scrub' }), 5)]),
    ];
    const rows = Array.from({ length: RESOURCES }, (_, i) => ({ r: `gen-${String(i).padStart(5, '0')}`, s: { ...templates[i % 2]!, resource: `gen-${String(i).padStart(5, '0')}` } }));
    const sql = new Client({ connectionString: db.url });
    await sql.connect();
    try {
      await sql.query(
        `insert into audit.resource_states (resource, state, log_index, entry_count)
         select x.r, x.s, 0, 1 from jsonb_to_recordset($1::jsonb) as x(r text, s jsonb)`,
        [JSON.stringify(rows)],
      );
    } finally {
      await sql.end();
    }
  });

  afterAll(async () => {
    await audit?.app.close();
    await topology?.remove();
    await db?.drop();
    await nc?.close();
  });

  it('leads the continuity report with one row per resource and every risk, within a generous bound', async () => {
    const started = Date.now();
    const res = await fetch(`${audit.base}/audit/reports/continuity?format=html`, { headers: { authorization: `Bearer ${AUDITOR}` } });
    const html = await res.text();
    const elapsedMs = Date.now() - started;
    expect(res.status).toBe(200);
    expect(html.match(/<tr class="[a-z-]+" data-resource="gen-/g)).toHaveLength(RESOURCES);
    expect(html.indexOf('id="risks"')).toBeLessThan(html.indexOf('id="estate"'));
    expect(html).toContain('three-two-one-lost');
    expect(elapsedMs).toBeLessThan(30_000); // a loaded 2-core machine; well under that when idle

    const risks = await audit.get('/audit/risks?severity=critical');
    expect(risks.body.risks.filter((r: any) => r.rule === 'three-two-one-lost')).toHaveLength(RESOURCES / 2);
  });
});
