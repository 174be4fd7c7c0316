import { evolveResourceState, LedgerEntry, ResourceState, SloTargets } from './resource-state.projection.js';

/** A resource's state is snapshotted after every this-many of its entries, so `?at=` folds ≤ this many. */
export const SNAPSHOT_EVERY = 64;

/** A resource's projection and how many ledger entries of it were folded in. */
export interface ProjectedResource {
  state: ResourceState;
  count: number;
}

export interface ResourceSnapshot {
  resource: string;
  logIndex: number;
  state: ResourceState;
}

/**
 * Folds entries, in log order, into the projections of the resources they touch, and lists the
 * snapshots due (one every SNAPSHOT_EVERY entries of a resource). The one fold both the ledger
 * writer (per batch) and the projection rebuild (over the whole log) use, so they cannot drift
 * apart. Pure: the starting map is not changed; resources not in it start from nothing.
 */
export const foldEntries = (
  starting: ReadonlyMap<string, ProjectedResource>,
  entries: Iterable<LedgerEntry>,
  targets: SloTargets,
): { states: Map<string, ProjectedResource>; snapshots: ResourceSnapshot[] } => {
  const states = new Map(starting);
  const snapshots: ResourceSnapshot[] = [];
  for (const entry of entries) {
    const current = states.get(entry.event.resource);
    const state = evolveResourceState(current?.state ?? null, entry, targets);
    const count = (current?.count ?? 0) + 1;
    states.set(entry.event.resource, { state, count });
    if (count % SNAPSHOT_EVERY === 0) snapshots.push({ resource: entry.event.resource, logIndex: entry.logIndex, state });
  }
  return { states, snapshots };
};
