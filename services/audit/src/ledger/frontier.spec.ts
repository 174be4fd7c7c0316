import { appendLeaf, EMPTY_FRONTIER, Frontier, frontierRoot, frontierShape } from './frontier.js';
import { EMPTY_ROOT, leafHash, perfectSubtreesToStore, rootFromLeafHashes } from '@continuity/contracts/ledger';

describe('frontier (compact range)', () => {
  const leaves = Array.from({ length: 300 }, (_, i) => leafHash(Buffer.from(`entry ${i}`)));

  it('has the root of the RFC 6962 tree after every append', () => {
    let frontier: Frontier = EMPTY_FRONTIER;
    expect(frontierRoot(frontier)).toEqual(EMPTY_ROOT);
    leaves.forEach((leaf, i) => {
      frontier = appendLeaf(frontier, leaf).frontier;
      expect(frontierRoot(frontier).toString('hex')).toBe(rootFromLeafHashes(leaves.slice(0, i + 1)).toString('hex'));
    });
  });

  it('reports exactly the perfect subtrees the append completed, with their hashes', () => {
    let frontier: Frontier = EMPTY_FRONTIER;
    leaves.forEach((leaf, i) => {
      const result = appendLeaf(frontier, leaf);
      frontier = result.frontier;
      expect(result.completed.map(({ start, size }) => ({ start, size }))).toEqual(perfectSubtreesToStore(i));
      for (const node of result.completed) expect(node.hash).toEqual(rootFromLeafHashes(leaves.slice(node.start, node.start + node.size)));
    });
  });

  it('keeps the shape of the size in binary', () => {
    let frontier: Frontier = EMPTY_FRONTIER;
    for (const leaf of leaves.slice(0, 13)) frontier = appendLeaf(frontier, leaf).frontier;
    expect(frontier.nodes.map(({ start, size }) => ({ start, size }))).toEqual(frontierShape(13));
    expect(frontierShape(13)).toEqual([{ start: 0, size: 8 }, { start: 8, size: 4 }, { start: 12, size: 1 }]);
    expect(frontierShape(0)).toEqual([]);
    expect(frontierShape(2 ** 40 + 3).length).toBe(3);
  });

  it('does not change the frontier it was given', () => {
    const before = appendLeaf(EMPTY_FRONTIER, leaves[0]!).frontier;
    const copy = structuredClone(before);
    appendLeaf(before, leaves[1]!);
    expect(before).toEqual(copy);
  });
});
