import type { SignedTreeHead } from '@continuity/contracts/ledger';
import type { AuditConfig } from '../config/audit.config.js';
import { HistoryService } from './history.service.js';

const headOf = (n: number): SignedTreeHead => ({ treeSize: n, rootHash: `r${n}`, timestamp: 't', signature: 's', keyId: 'k' });
const rowOf = (n: number) => ({ tree_size: n, root_hash: `r${n}`, timestamp: 't', signature: 's', key_id: 'k' });
const config = { AUDIT_RPO_TARGET_MS: 300_000, AUDIT_RTO_TARGET_MS: 30_000, AUDIT_AVAILABILITY_TARGET: 0.9999 } as AuditConfig;

/**
 * A ledger of `recorded` entries by `at` whose signed heads are `heads`; `signAfterStatement` is
 * committed by another writer right after the state statement has read the heads. Every read is
 * logged, to count round trips.
 */
const ledger = (opts: { recorded: number; heads: number[]; cached: number | null; signAfterStatement?: number }) => {
  const heads = [...opts.heads];
  const reads: string[] = [];
  const pool = {
    query: async (q: { name: string; values: unknown[] }) => {
      reads.push(q.name);
      expect(q.name).toBe('audit-state-inputs');
      const known = q.values[2] as number;
      const covering = heads.filter((s) => s >= opts.recorded).sort((a, b) => a - b)[0];
      // Nothing recorded by then: the statement's `bound` is empty, and so is its answer.
      const rows = opts.recorded === 0 ? [] : [
        {
          tree_size: String(opts.recorded),
          snapshot: null,
          entries: [],
          head: covering === undefined ? null : rowOf(covering),
          consistency_hashes: known > opts.recorded ? [[0, 0, 'aa'.repeat(32)]] : [],
        },
      ];
      if (opts.signAfterStatement) heads.push(opts.signAfterStatement);
      return { rows };
    },
  };
  const treeHeads = {
    latestCached: async () => (opts.cached === null ? null : headOf(opts.cached)),
    latest: async () => (reads.push('latest'), heads.length ? headOf(Math.max(...heads)) : null),
    atOrAfter: async (n: number) => {
      reads.push('atOrAfter');
      const covering = heads.filter((s) => s >= n).sort((a, b) => a - b)[0];
      return covering === undefined ? null : headOf(covering);
    },
  };
  const proofs = {
    consistency: async (from: number, to: number) => (reads.push('consistency'), [`proof ${from}->${to}`]),
    consistencyFrom: (from: number, to: number, rows: unknown[]) => (from === to ? [] : [`from the statement ${from}->${to} (${rows.length} hashes)`]),
  };
  const service = new HistoryService({} as any, pool as any, config, proofs as any, treeHeads as any);
  return { service, reads };
};

const at = new Date('2026-11-30T12:00:00Z');

describe('HistoryService.stateAt', () => {
  it('takes the covering head and the consistency proof to the cached head from the one statement', async () => {
    const { service, reads } = ledger({ recorded: 15, heads: [10, 20, 30], cached: 30 });
    const res = await service.stateAt('db', at);
    expect(reads).toEqual(['audit-state-inputs']);
    expect(res).toMatchObject({ treeSize: 15, signedHead: headOf(20), latestSignedHead: headOf(30), consistency: { from: 15, to: 30, proof: ['from the statement 15->30 (1 hashes)'] } });
  });

  it('proves nothing between a state and the head of its own size', async () => {
    const { service, reads } = ledger({ recorded: 30, heads: [10, 30], cached: 30 });
    expect(await service.stateAt('db', at)).toMatchObject({ signedHead: headOf(30), consistency: { from: 30, to: 30, proof: [] } });
    expect(reads).toEqual(['audit-state-inputs']);
  });

  it('past the cached head, reads the latest head and proves to it', async () => {
    const { service, reads } = ledger({ recorded: 25, heads: [10, 20, 30], cached: 20 });
    const res = await service.stateAt('db', at);
    expect(res).toMatchObject({ treeSize: 25, signedHead: headOf(30), latestSignedHead: headOf(30), consistency: { from: 25, to: 30, proof: ['proof 25->30'] } });
    expect(reads).toEqual(['audit-state-inputs', 'latest', 'consistency']);
  });

  it('past every signed head: no covering head and no proof', async () => {
    const { service } = ledger({ recorded: 35, heads: [10, 30], cached: 30 });
    expect(await service.stateAt('db', at)).toMatchObject({ treeSize: 35, signedHead: null, latestSignedHead: headOf(30), consistency: null });
  });

  it('a head signed right after the statement read none still comes with the proof to it', async () => {
    const { service, reads } = ledger({ recorded: 15, heads: [10], cached: 10, signAfterStatement: 20 });
    const res = await service.stateAt('db', at);
    expect(res).toMatchObject({ treeSize: 15, signedHead: headOf(20), latestSignedHead: headOf(20), consistency: { from: 15, to: 20, proof: ['proof 15->20'] } });
    expect(reads).toEqual(['audit-state-inputs', 'latest', 'atOrAfter', 'consistency']);
  });

  it('before the first entry: tree size 0, no state, no head, no proof', async () => {
    const { service } = ledger({ recorded: 0, heads: [10], cached: 10 });
    expect(await service.stateAt('db', at)).toMatchObject({ treeSize: 0, state: null, assessment: null, signedHead: null, latestSignedHead: headOf(10), consistency: null });
  });
});
