import { Client } from 'pg';
import { DataSource } from 'typeorm';
import { aBackupCreatedData, anEvent } from '@continuity/contracts/testing';
import { createTestDatabase } from '@continuity/runtime/testing';
import { AuditLedger1764150000000 } from '../src/database/1764150000000-audit-ledger.migration.js';
import { AuditorViews1764160000000 } from '../src/database/1764160000000-auditor-views.migration.js';
import { SigningKeysAndInbox1764170000000 } from '../src/database/1764170000000-signing-keys-and-inbox.migration.js';
import { UntrustedEntries1764180000000 } from '../src/database/1764180000000-untrusted-entries.migration.js';
import { Notifications1764280028000 } from '../src/database/1764280028000-notifications.migration.js';
import { ProjectionCompression1764300033000 } from '../src/database/1764300033000-projection-compression.migration.js';
import { ProjectionsAsJson1764320050000 } from '../src/database/1764320050000-projections-as-json.migration.js';
import { foldEntries } from '../src/resource-state/projection-fold.js';
import { insertSnapshotsSql, snapshotRows, stateRows, upsertStatesSql } from '../src/resource-state/projection-rows.js';
import { DEFAULT_SLO_TARGETS } from '../src/resource-state/resource-state.projection.js';

const BEFORE = [AuditLedger1764150000000, AuditorViews1764160000000, SigningKeysAndInbox1764170000000, UntrustedEntries1764180000000, Notifications1764280028000, ProjectionCompression1764300033000];

/** A resource's projection after `n` backups, one a minute from 2026-01-01. */
const projected = (resource: string, n: number) =>
  foldEntries(
    new Map(),
    Array.from({ length: n }, (_, i) => ({
      logIndex: i,
      recordedAt: new Date(Date.UTC(2026, 0, 1, 0, i)).toISOString(),
      event: JSON.parse(JSON.stringify(anEvent('BackupCreated', { resource, data: aBackupCreatedData() }))),
    })),
    DEFAULT_SLO_TARGETS,
  );

describe('projection states stored as json (real PostgreSQL)', () => {
  let db: Awaited<ReturnType<typeof createTestDatabase>>;
  let sql: Client;
  const migrated = (migrations: Function[]) => new DataSource({ type: 'postgres', url: db.url, migrations, migrationsTableName: 'audit_migrations' });
  const columnTypes = async () =>
    (
      await sql.query(
        `select c.relname as t, a.atttypid::regtype::text as type, a.attcompression as compression from pg_attribute a join pg_class c on c.oid = a.attrelid
         where c.relnamespace = 'audit'::regnamespace and c.relname in ('resource_states', 'resource_snapshots') and a.attname = 'state' order by 1`,
      )
    ).rows;
  const report = async () =>
    (
      await sql.query(
        `select resource, last_backup_at, last_verified_recovery_point, three_two_one_compliant, backups_taken, verifications_passed, verifications_failed,
                backups_failed, failovers, worst_rto_ms::float8 as worst_rto_ms, round(availability::numeric, 6)::float8 as availability, slo_breaches, as_of_log_index::int as as_of_log_index
         from audit.continuity_report order by resource`,
      )
    ).rows;

  beforeAll(async () => {
    db = await createTestDatabase('audit');
    sql = new Client({ connectionString: db.url });
    await sql.connect();
  });

  afterAll(async () => {
    await sql?.end();
    await db?.drop();
  });

  it('given states and snapshots stored as jsonb by the previous version, when migrated, then they are json with the same values, the auditor view reads them, and the way back restores jsonb', async () => {
    const before = migrated(BEFORE);
    await before.initialize();
    await before.runMigrations();
    await before.destroy();
    const { states, snapshots } = projected('orders-db', 130);
    const folded = states.get('orders-db')!;
    // Every field the view reads set: failovers (worst RTO), downtime (availability), a breach.
    const trackedSince = new Date(Date.now() - 100_000_000).toISOString();
    const failover = (rtoMs: number) => ({ failoverId: `f-${rtoMs}`, from: 'a', to: 'b', rtoMs, lagBytes: 0, completedAt: trackedSince });
    const breach = { kind: 'rto' as const, at: trackedSince, valueMs: 40_000, targetMs: 30_000, detail: 'slow' };
    const state = { ...folded, state: { ...folded.state, trackedSince, downtimeMs: 5_000, failovers: [failover(1_200), failover(3_400)], sloBreaches: [breach] } };
    await sql.query(`insert into audit.resource_states (resource, state, log_index, entry_count) values ($1, $2::jsonb, $3, $4)`, ['orders-db', JSON.stringify(state.state), state.state.asOfLogIndex, state.count]);
    await sql.query(`insert into audit.resource_snapshots (resource, log_index, state) values ($1, $2, $3::jsonb)`, ['orders-db', snapshots[0]!.logIndex, JSON.stringify(snapshots[0]!.state)]);
    expect((await columnTypes()).map((c) => c.type)).toEqual(['jsonb', 'jsonb']);
    const reported = await report();
    expect(reported).toEqual([
      {
        resource: 'orders-db',
        last_backup_at: new Date(state.state.lastBackup!.createdAt),
        last_verified_recovery_point: null,
        three_two_one_compliant: false,
        backups_taken: 130,
        verifications_passed: 0,
        verifications_failed: 0,
        backups_failed: 0,
        failovers: 0,
        worst_rto_ms: 3_400,
        availability: Math.round((1 - 5 / 100_000) * 1e6) / 1e6,
        slo_breaches: 1,
        as_of_log_index: 129,
      },
    ]);

    const after = migrated([...BEFORE, ProjectionsAsJson1764320050000]);
    await after.initialize();
    await after.runMigrations();
    const types = await columnTypes();
    expect(types.map((c) => c.type)).toEqual(['json', 'json']);
    expect(types.map((c) => c.compression)).toEqual(['l', 'l']);
    // The rows the type change rewrote are lz4 too, not the server's default.
    const compressed = await sql.query(
      `select pg_column_compression(state) as c from audit.resource_states union all select pg_column_compression(state) from audit.resource_snapshots`,
    );
    expect(compressed.rows.map((r) => r.c)).toEqual(['lz4', 'lz4']);
    expect((await sql.query(`select state from audit.resource_states`)).rows[0].state).toEqual(JSON.parse(JSON.stringify(state.state)));
    expect((await sql.query(`select state from audit.resource_snapshots`)).rows[0].state).toEqual(JSON.parse(JSON.stringify(snapshots[0]!.state)));
    expect(await report()).toEqual(reported);
    expect((await sql.query(`select has_table_privilege('continuity_auditor', 'audit.continuity_report', 'select') as ok`)).rows[0].ok).toBe(true);

    await after.undoLastMigration();
    await after.destroy();
    expect((await columnTypes()).map((c) => c.type)).toEqual(['jsonb', 'jsonb']);
    expect(await report()).toEqual(reported);
    expect((await sql.query(`select state from audit.resource_states`)).rows[0].state).toEqual(JSON.parse(JSON.stringify(state.state)));
  });

  it('given states whose strings hold the separator (U+001E) and other control characters, when written as the writer writes them, then each row holds exactly its own state', async () => {
    const now = migrated([...BEFORE, ProjectionsAsJson1764320050000]);
    await now.initialize();
    await now.runMigrations();
    await now.destroy();
    await sql.query('delete from audit.resource_snapshots');
    await sql.query('delete from audit.resource_states');
    const hostile = ['a\u001eb', '\u001e', 'line\nbreak\u0000nul\u001f', '"\\\u001e'];
    const touched = hostile.map((name, i) => {
      const { states } = projected(`db-${i}`, i + 1);
      const value = states.get(`db-${i}`)!;
      return [`db-${i}`, { ...value, state: { ...value.state, trackedSince: name } }] as const;
    });
    await sql.query(upsertStatesSql(1), stateRows(touched));
    await sql.query(insertSnapshotsSql(1), snapshotRows(touched.map(([resource, v]) => ({ resource, logIndex: v.state.asOfLogIndex, state: v.state }))));
    const rows = (await sql.query(`select resource, state, log_index::int as i, entry_count::int as c from audit.resource_states order by resource`)).rows;
    expect(rows).toEqual(touched.map(([resource, v]) => ({ resource, state: JSON.parse(JSON.stringify(v.state)), i: v.state.asOfLogIndex, c: v.count })));
    const snapshots = (await sql.query(`select resource, state from audit.resource_snapshots order by resource`)).rows;
    expect(snapshots.map((s) => s.state.trackedSince)).toEqual(hostile);
    // Upserted again (the next batch): replaced, not added.
    await sql.query(upsertStatesSql(1), stateRows(touched.slice(0, 1)));
    expect((await sql.query(`select count(*)::int as n from audit.resource_states`)).rows[0].n).toBe(hostile.length);
  });
});
