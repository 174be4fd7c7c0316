/** Which copy to restore from first (pure). */
export interface RestorableCopy {
  location: string;
  uri: string;
  sha256: string;
  sizeBytes: number;
}

export interface CopyChoice<C extends RestorableCopy> {
  ordered: C[];
  /** Copies that cannot be tried, and why (their location is no longer configured). */
  unavailable: { copy: C; reason: string }[];
}

/**
 * Local copies first (filesystem, then object store), keeping the policy's order within a kind:
 * the fastest healthy copy wins, the others are the fall-backs.
 */
export const orderCopies = <C extends RestorableCopy>(copies: readonly C[], kindOf: (location: string) => 'filesystem' | 'object-store' | null): CopyChoice<C> => {
  const rank = { filesystem: 0, 'object-store': 1 } as const;
  const unavailable: CopyChoice<C>['unavailable'] = [];
  const usable: { copy: C; rank: number; index: number }[] = [];
  copies.forEach((copy, index) => {
    const kind = kindOf(copy.location);
    if (!kind) unavailable.push({ copy, reason: `location "${copy.location}" is not in the configuration` });
    else usable.push({ copy, rank: rank[kind], index });
  });
  usable.sort((a, b) => a.rank - b.rank || a.index - b.index);
  return { ordered: usable.map((u) => u.copy), unavailable };
};
