/*
 * The fence's rules in pg_hba.conf: a marked block, first in the file (pg_hba is first-match), that
 * rejects every database connection of the given roles, local and over TCP. Replication
 * connections are not matched (`all` in the database field does not match `replication`), nor is
 * any role left out of the list (superusers, the failover service's own role): their connections
 * fall through to the file's own rules. Pure text in, text out; PgMember reads and writes the file.
 */

const BEGIN = '# continuity-fence begin';
const END = '# continuity-fence end';

/** Why a role cannot be named in pg_hba.conf (its tokens have no escape for `"` or line breaks). */
export const unquotableRole = (role: string): string | null =>
  /["\r\n]/.test(role) ? 'its name contains a double quote or a line break, which pg_hba.conf cannot express' : null;

/** A role as a pg_hba user token: always quoted, so `all`, `+group` or `@file` are taken literally. */
const token = (role: string) => `"${role}"`;

/** `content` without a fence block (unchanged when it has none). */
export const withoutFence = (content: string): string => {
  const lines = content.split('\n');
  const begin = lines.findIndex((l) => l.startsWith(BEGIN));
  if (begin < 0) return content;
  const end = lines.findIndex((l, i) => i > begin && l.startsWith(END));
  // A block whose end marker was removed by hand: leave the file alone rather than guess.
  if (end < 0) return content;
  return [...lines.slice(0, begin), ...lines.slice(end + 1)].join('\n');
};

/** True when `content` has a fence block. */
export const hasFence = (content: string): boolean => withoutFence(content) !== content;

/**
 * `content` with a fence block rejecting `roles` (replacing any earlier block) placed first.
 * With no roles the block is still written: it records that the member is fenced.
 */
export const withFence = (content: string, roles: readonly string[], why: string): string => {
  const block = [
    `${BEGIN}: ${why.replace(/[\r\n]+/g, ' ')}`,
    '# Written by the Continuity failover service; removed when the member is reported rebuilt.',
    ...roles.flatMap((role) => [`local all ${token(role)} reject`, `host all ${token(role)} all reject`]),
    END,
  ];
  return [...block, withoutFence(content)].join('\n');
};
