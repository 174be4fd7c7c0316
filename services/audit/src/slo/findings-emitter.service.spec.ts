import { atDate, dump, fold, resetLog, verifiedBackup } from '../../test/findings-fixtures.js';
import type { AuditConfig } from '../config/audit.config.js';
import type { WriterLease } from '../database/writer-lease.js';
import { FindingsEmitter } from './findings-emitter.service.js';

const config = {
  AUDIT_RPO_TARGET_MS: 300_000,
  AUDIT_RTO_TARGET_MS: 30_000,
  AUDIT_AVAILABILITY_TARGET: 0.9999,
  AUDIT_EVALUATE_INTERVAL_MS: 0,
  AUDIT_SCRUB_PERIOD_MS: 7 * 86_400_000,
  AUDIT_DRILL_MAX_AGE_MS: 30 * 86_400_000,
  AUDIT_STANDBY_LAG_LIMIT_BYTES: 1_000,
} as AuditConfig;

describe('FindingsEmitter', () => {
  beforeEach(resetLog);

  const setup = (isWriter: boolean) => {
    const state = fold(verifiedBackup(dump(0), 0));
    const published: { type: string; id: string }[] = [];
    const publisher = { publish: async (type: string, input: { id: string }) => void published.push({ type, id: input.id }) };
    const dataSource = { query: async () => [{ state }] };
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
  it('reads the estate in pages, each after the last resource of the one before, and judges every resource', async () => {
    const one = setup(true);
    const perResource = await one.emitter.evaluate(atDate(60));
    expect(perResource).toBeGreaterThan(0);
    resetLog();
    const state = fold(verifiedBackup(dump(0), 0));
    const estate = Array.from({ length: 125 }, (_, i) => `r-${String(i).padStart(3, '0')}`).map((resource) => ({ resource, state: { ...state, resource } }));
    const reads: [string, string, number][] = [];
    const dataSource = {
      query: async (_sql: string, params: [string, string, number]) => {
        reads.push(params);
        return estate.filter((r) => r.resource > params[1]).slice(0, params[2]);
      },
    };
    const publisher = { publish: async () => undefined };
    const emitter = new FindingsEmitter(dataSource as any, config, publisher as any, { isWriter: true } as WriterLease);
    expect(await emitter.evaluate(atDate(60))).toBe(125 * perResource);
    expect(reads.map(([, after]) => after)).toEqual(['', ...Array.from({ length: 12 }, (_, i) => `r-${String(10 * i + 9).padStart(3, '0')}`)]);
    expect(Math.max(...reads.map(([, , limit]) => limit))).toBeLessThan(estate.length);
  });
});
