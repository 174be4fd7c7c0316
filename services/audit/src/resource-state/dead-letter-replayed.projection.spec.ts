import { anEvent } from '@continuity/contracts/testing';
import { evolveResourceState, initialResourceState } from './resource-state.projection.js';

// The ledger records a DeadLetterReplayed (an operator's replay); the continuity state of the
// resource must not change for it: the replayed event itself is already in the ledger.
describe('resource state on DeadLetterReplayed', () => {
  it('records the entry and changes nothing else', () => {
    const before = { ...initialResourceState('orders-db', '2026-11-26T09:00:00.000Z'), asOfLogIndex: 4 };
    const after = evolveResourceState(before, { logIndex: 5, recordedAt: '2026-11-26T10:00:00.000Z', event: anEvent('DeadLetterReplayed') });
    expect(after).toEqual({ ...before, asOfLogIndex: 5, updatedAt: '2026-11-26T10:00:00.000Z' });
  });
});
