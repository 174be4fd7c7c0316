import { atDate, dump, entry, fold, resetLog, verifiedBackup } from '../../test/findings-fixtures.js';
import { riskPolicyOf, sloTargetsOf } from '../resource-state/slo-targets.js';
import { decideRisks } from '../risks/risk.decider.js';
import type { AuditConfig } from '../config/audit.config.js';
import type { WriterLease } from '../database/writer-lease.js';
import { FindingsEmitter } from './findings-emitter.service.js';
import { decideSlos } from './slo.decider.js';

const config = {
  AUDIT_RPO_TARGET_MS: 300_000,
  AUDIT_RTO_TARGET_MS: 30_000,
  AUDIT_AVAILABILITY_TARGET: 0.9999,
  AUDIT_EVALUATE_INTERVAL_MS: 0,
  AUDIT_SCRUB_PERIOD_MS: 7 * 86_400_000,
  AUDIT_DRILL_MAX_AGE_MS: 30 * 86_400_000,
  AUDIT_STANDBY_LAG_LIMIT_BYTES: 1_000,
} as AuditConfig;

type Row = { resource: string; version: string; state: ReturnType<typeof fold> };

/**
 * `audit.resource_states` as the emitter reads it: every row's version (no parameters), or the
 * rows of the resources asked for (recorded in `reads`).
 */
const storedStates = (rows: Row[], reads: string[][] = []) => ({
  query: async (_sql: string, params?: [string[]]) => {
    if (!params) return rows.map(({ resource, version }) => ({ resource, version }));
    reads.push(params[0]);
    return rows.filter((r) => params[0].includes(r.resource));
  },
});

describe('FindingsEmitter', () => {
  beforeEach(resetLog);

  const setup = (isWriter: boolean) => {
    const state = fold(verifiedBackup(dump(0), 0));
    const published: { type: string; id: string }[] = [];
    const publisher = { publish: async (type: string, input: { id: string }) => void published.push({ type, id: input.id }) };
    const dataSource = storedStates([{ resource: state.resource, version: '1', state }]);
    const emitter = new FindingsEmitter(dataSource as any, config, publisher as any, { isWriter } as WriterLease);
    return { emitter, published };
  };

  it('publishes nothing on an instance that does not hold the writer lease', async () => {
    const { emitter, published } = setup(false);
    expect(await emitter.evaluate(atDate(60))).toBe(0);
    expect(published).toEqual([]);
  });

  it('on the writer, publishes each finding under its derived id, and not again while the ledger catches up', async () => {
    const { emitter, published } = setup(true);
    expect(await emitter.evaluate(atDate(60))).toBeGreaterThan(0);
    expect(published.map((p) => p.type)).toEqual(expect.arrayContaining(['SloBreached', 'RiskIdentified']));
    const first = [...published];
    expect(await emitter.evaluate(atDate(60.1))).toBe(0);
    expect(published).toEqual(first);
    // Another instance (a restart, a new writer) derives the very same ids: duplicates the stream and ledger drop.
    const other = setup(true);
    await other.emitter.evaluate(atDate(61));
    expect(other.published.map((p) => p.id).sort()).toEqual(first.map((p) => p.id).sort());
  });
  it('reads the estate in pages, then only the projections whose row changed; findings not yet in the ledger go out again from the state held', async () => {
    const one = setup(true);
    const perResource = await one.emitter.evaluate(atDate(60));
    expect(perResource).toBeGreaterThan(0);
    resetLog();
    const state = fold(verifiedBackup(dump(0), 0));
    const names = Array.from({ length: 125 }, (_, i) => `r-${String(i).padStart(3, '0')}`);
    const rows: Row[] = names.map((resource) => ({ resource, version: '1', state: { ...state, resource } }));
    const reads: string[][] = [];
    const published: string[] = [];
    const publisher = { publish: async (_type: string, input: { resource: string }) => void published.push(input.resource) };
    const emitter = new FindingsEmitter(storedStates(rows, reads) as any, config, publisher as any, { isWriter: true } as WriterLease);

    expect(await emitter.evaluate(atDate(60))).toBe(125 * perResource);
    expect(reads.flat().sort()).toEqual(names);
    expect(Math.max(...reads.map((page) => page.length))).toBeLessThan(names.length);

    // Two projections changed (a new row version), one resource is gone: only the two are read again.
    reads.length = 0;
    published.length = 0;
    rows[7] = { ...rows[7]!, version: '2' };
    rows[99] = { ...rows[99]!, version: '3' };
    rows.splice(50, 1);
    // Past the recent window, and with the ledger never told, the same findings go out again: every resource still present was judged.
    await emitter.evaluate(atDate(62));
    expect(reads.flat().sort()).toEqual(['r-007', 'r-099']);
    expect(new Set(published)).toEqual(new Set(names.filter((n) => n !== 'r-050')));
  });

  it('between passes holds no projection: reads and judges a resource again only when its row changes or the clock crosses a moment its findings name', async () => {
    // A resource whose findings at minute 1 are all in the ledger already (as the ledger folds the emitter's events).
    const verified = fold(verifiedBackup(dump(0), 0));
    const slo = decideSlos(verified, atDate(1), sloTargetsOf(config));
    const risks = decideRisks(verified, atDate(1), riskPolicyOf(config));
    const state = fold([...slo.breach.map((d) => entry('SloBreached', d, 1)), ...risks.identify.map((d) => entry('RiskIdentified', d, 1))], verified);
    const rows: Row[] = [{ resource: state.resource, version: '1', state }];
    const reads: string[][] = [];
    const published: string[] = [];
    const publisher = { publish: async (type: string) => void published.push(type) };
    const emitter = new FindingsEmitter(storedStates(rows, reads) as any, config, publisher as any, { isWriter: true } as WriterLease);

    expect(await emitter.evaluate(atDate(1))).toBe(0);
    expect(reads).toEqual([[state.resource]]);
    // Nothing changed, no moment crossed: not read, nothing published.
    expect(await emitter.evaluate(atDate(2))).toBe(0);
    expect(await emitter.evaluate(atDate(4.9))).toBe(0);
    expect(reads).toHaveLength(1);
    // The RPO target (5 min after the verified point) crossed by the clock alone: read again and announced.
    await emitter.evaluate(atDate(5.1));
    expect(reads).toHaveLength(2);
    expect(published).toEqual(expect.arrayContaining(['SloBreached', 'RiskIdentified']));
    // Its row changed (say the ledger folded them): read again.
    rows[0] = { ...rows[0]!, version: '2' };
    await emitter.evaluate(atDate(5.2));
    expect(reads).toHaveLength(3);
  });
});
