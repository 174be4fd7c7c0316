import type { ProjectedResource, ResourceSnapshot } from './projection-fold.js';
import type { RetainedBackup } from './protection.projection.js';
import type { ResourceState } from './resource-state.projection.js';

/**
 * JSON texts of retained backups, by entry. The fold never changes an entry in place (a verdict
 * makes a new one), so an entry is the same object, with the same text, in every batch and snapshot
 * until it changes or leaves: most of a state's text (up to 128 entries) is made once, not per batch.
 */
const retainedTexts = new WeakMap<RetainedBackup, string>();
const retainedText = (entry: RetainedBackup): string => {
  let text = retainedTexts.get(entry);
  if (text === undefined) retainedTexts.set(entry, (text = JSON.stringify(entry)));
  return text;
};

/** An object's JSON text with one more member, whose value is given as JSON text. */
const withMember = (objectText: string, key: string, valueText: string) =>
  `${objectText.length > 2 ? `${objectText.slice(0, -1)},` : '{'}${JSON.stringify(key)}:${valueText}}`;

/** A state's JSON text: the same JSON value as `JSON.stringify(state)` (protection, and its retained list, last). */
export const stateText = (state: ResourceState): string => {
  const { protection, ...rest } = state;
  if (protection === undefined) return JSON.stringify(state);
  const { retained, ...others } = protection;
  let list = '[';
  for (let i = 0; i < retained.length; i++) list += (i === 0 ? '' : ',') + retainedText(retained[i]!);
  return withMember(JSON.stringify(rest), 'protection', withMember(JSON.stringify(others), 'retained', `${list}]`));
};

/**
 * How projection rows travel to PostgreSQL: names and numbers as arrays, the states as ONE text of
 * their JSON texts separated by U+001E, which JSON text never holds unescaped (`JSON.stringify`
 * escapes every control character inside strings, and `stateText` is made of its texts). PostgreSQL splits it with `string_to_array`
 * and only validates each piece as `json` (decision 0050): parsed as `jsonb`, or sent as a text
 * array (whose quoting PostgreSQL must undo), the states cost the database several times as much.
 */
const jsonTexts = (states: readonly ResourceState[]): string => states.map(stateText).join('\u001e');

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
