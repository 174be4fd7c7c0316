import { EMPTY_ROOT, nodeHash } from '@continuity/contracts/ledger';

/** A perfect aligned subtree [start, start+size) and its hash. */
export interface SubtreeNode {
  start: number;
  size: number;
  hash: Buffer;
}

/**
 * The compact range [0, size): the perfect subtrees, largest first, whose sizes are the binary
 * digits of `size` (13 = 8 + 4 + 1). It is all the ledger keeps in memory: appending needs only
 * it, and so does the current root. At most 53 nodes whatever the log's length.
 */
export interface Frontier {
  size: number;
  nodes: SubtreeNode[];
}

export const EMPTY_FRONTIER: Frontier = { size: 0, nodes: [] };

/** The perfect subtrees covering [0, size), largest first (what to load to rebuild a frontier). */
export const frontierShape = (size: number): { start: number; size: number }[] => {
  const shape: { start: number; size: number }[] = [];
  let start = 0;
  for (let bit = 2 ** Math.floor(Math.log2(Math.max(size, 1))); bit >= 1; bit /= 2) {
    if (size - start >= bit) {
      shape.push({ start, size: bit });
      start += bit;
    }
  }
  return shape;
};

/**
 * Appends one leaf hash. Returns the new frontier and every perfect subtree of size ≥ 2 the leaf
 * completed (to be stored so proofs never rehash the log). Pure: the input is not changed.
 */
export const appendLeaf = (frontier: Frontier, leaf: Buffer): { frontier: Frontier; completed: SubtreeNode[] } => {
  const nodes = [...frontier.nodes, { start: frontier.size, size: 1, hash: leaf }];
  const completed: SubtreeNode[] = [];
  while (nodes.length >= 2 && nodes[nodes.length - 1]!.size === nodes[nodes.length - 2]!.size) {
    const right = nodes.pop()!;
    const left = nodes.pop()!;
    const merged = { start: left.start, size: left.size * 2, hash: nodeHash(left.hash, right.hash) };
    nodes.push(merged);
    completed.push(merged);
  }
  return { frontier: { size: frontier.size + 1, nodes }, completed };
};

/** RFC 6962 MTH of the whole range: the frontier folded from the right. */
export const frontierRoot = (frontier: Frontier): Buffer => {
  if (frontier.nodes.length === 0) return EMPTY_ROOT;
  let hash = frontier.nodes[frontier.nodes.length - 1]!.hash;
  for (let i = frontier.nodes.length - 2; i >= 0; i--) hash = nodeHash(frontier.nodes[i]!.hash, hash);
  return hash;
};
