import { orderCopies } from './copy-order.policy.js';

const copy = (location: string) => ({ location, uri: `x://${location}`, sha256: 'a'.repeat(64), sizeBytes: 1 });

describe('orderCopies', () => {
  it('tries filesystem copies first, in policy order, then object stores', () => {
    const kinds: Record<string, 'filesystem' | 'object-store'> = { offsite: 'object-store', a: 'filesystem', b: 'filesystem' };
    const choice = orderCopies([copy('offsite'), copy('a'), copy('b')], (l) => kinds[l] ?? null);
    expect(choice.ordered.map((c) => c.location)).toEqual(['a', 'b', 'offsite']);
    expect(choice.unavailable).toEqual([]);
  });

  it('says which copies cannot be tried', () => {
    const choice = orderCopies([copy('gone'), copy('a')], (l) => (l === 'a' ? 'filesystem' : null));
    expect(choice.ordered.map((c) => c.location)).toEqual(['a']);
    expect(choice.unavailable).toEqual([{ copy: copy('gone'), reason: 'location "gone" is not in the configuration' }]);
  });
});
