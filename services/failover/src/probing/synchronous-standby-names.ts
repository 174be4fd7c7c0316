/*
 * `synchronous_standby_names` as this service writes and reads it. Pure.
 *
 * The service writes one form only, `FIRST 1 ("pg-b")`: commits wait for that one standby, named
 * by its application_name (the member name). It reads any form PostgreSQL accepts (`FIRST n (…)`,
 * `ANY n (…)`, `n (…)`, a bare list) so that a value set by hand is understood, then replaced.
 */

/** The value naming `member` as the one synchronous standby. */
export const synchronousStandbyNames = (member: string): string => `FIRST 1 ("${member.replace(/"/g, '""')}")`;

/** The standby names in a `synchronous_standby_names` value, in order ('*' stays '*'); [] for ''. */
export const parseSynchronousStandbyNames = (value: string): string[] => {
  const trimmed = value.trim();
  if (!trimmed) return [];
  const method = /^(?:(?:first|any)\s+)?\d+\s*\(([\s\S]*)\)$/i.exec(trimmed);
  const list = method ? method[1]! : trimmed;
  const names: string[] = [];
  // Commas inside double quotes belong to the name; "" inside quotes is one quote.
  let current = '';
  let quoted = false;
  for (let i = 0; i < list.length; i++) {
    const ch = list[i]!;
    if (quoted) {
      if (ch === '"' && list[i + 1] === '"') (current += '"'), i++;
      else if (ch === '"') quoted = false;
      else current += ch;
    } else if (ch === '"') quoted = true;
    else if (ch === ',') names.push(current.trim()), (current = '');
    else current += ch.toLowerCase();
  }
  names.push(current.trim());
  return names.filter((n) => n !== '');
};
