import type { ProjectedResource, ResourceSnapshot } from './projection-fold.js';

/**
 * How projection rows travel to PostgreSQL: names and numbers as arrays, the states as ONE text of
 * their JSON texts separated by U+001E, which JSON text never holds unescaped (`JSON.stringify`
 * escapes every control character inside strings). PostgreSQL splits it with `string_to_array`
 * and only validates each piece as `json` (decision 0050): parsed as `jsonb`, or sent as a text
 * array (whose quoting PostgreSQL must undo), the states cost the database several times as much.
 */
const jsonTexts = (values: readonly unknown[]): string => values.map((value) => JSON.stringify(value)).join('\u001e');

/** Upserts resources' current states; parameters `$first…$first+3` from `stateRows`. */
export const upsertStatesSql = (first: number) =>
  `insert into audit.resource_states (resource, state, log_index, entry_count)
   select x.r, x.s::json, x.i, x.c
   from unnest($${first}::text[], string_to_array($${first + 1}::text, chr(30)), $${first + 2}::bigint[], $${first + 3}::bigint[]) as x(r, s, i, c)
   on conflict (resource) do update set state = excluded.state, log_index = excluded.log_index, entry_count = excluded.entry_count`;

export const stateRows = (states: readonly (readonly [string, ProjectedResource])[]): unknown[] => [
  states.map(([resource]) => resource),
  jsonTexts(states.map(([, v]) => v.state)),
  states.map(([, v]) => v.state.asOfLogIndex),
  states.map(([, v]) => v.count),
];

/** Inserts snapshots; parameters `$first…$first+2` from `snapshotRows`. */
export const insertSnapshotsSql = (first: number) =>
  `insert into audit.resource_snapshots (resource, log_index, state)
   select x.r, x.i, x.s::json
   from unnest($${first}::text[], $${first + 1}::bigint[], string_to_array($${first + 2}::text, chr(30))) as x(r, i, s)`;

export const snapshotRows = (snapshots: readonly ResourceSnapshot[]): unknown[] => [
  snapshots.map((s) => s.resource),
  snapshots.map((s) => s.logIndex),
  jsonTexts(snapshots.map((s) => s.state)),
];
