/**
 * The table of contents of a `pg_dump --format=custom` archive as `pg_restore --list` prints it:
 * `<dumpId>; <catalogOid> <objectOid> <DESC> <namespace> <tag> <owner>`, where DESC may be several
 * words (`TABLE DATA`) and the owner may be empty. Pure.
 */
export interface TocEntry {
  dumpId: number;
  desc: string;
  namespace: string;
  tag: string;
  owner: string;
}

export interface DumpContents {
  entries: TocEntry[];
  /** Tables (`schema.name`) the dump creates. */
  tables: { schema: string; name: string }[];
  /** Tables whose data the dump holds. */
  tablesWithData: { schema: string; name: string }[];
  /** Large objects the dump holds (null when the format does not list them one by one). */
  largeObjects: number | null;
}

/** Longest first, so `TABLE DATA` is not read as `TABLE`. */
const DESCS = [
  'MATERIALIZED VIEW DATA',
  'SEQUENCE OWNED BY',
  'SEQUENCE SET',
  'MATERIALIZED VIEW',
  'BLOB METADATA',
  'FK CONSTRAINT',
  'DEFAULT ACL',
  'TABLE ATTACH',
  'TABLE DATA',
  'BLOBS',
  'BLOB',
  'TABLE',
].sort((a, b) => b.length - a.length);

export const parseToc = (listing: string): DumpContents => {
  const entries: TocEntry[] = [];
  for (const line of listing.split('\n')) {
    const match = /^(\d+); \d+ \d+ (.*)$/.exec(line);
    if (!match) continue;
    const rest = match[2]!;
    const desc = DESCS.find((d) => rest.startsWith(`${d} `)) ?? rest.split(' ')[0]!;
    const parts = rest.slice(desc.length + 1).split(' ');
    if (parts.length < 3) continue;
    entries.push({ dumpId: Number(match[1]), desc, namespace: parts[0]!, tag: parts.slice(1, -1).join(' '), owner: parts[parts.length - 1]! });
  }
  const named = (desc: string) => entries.filter((e) => e.desc === desc).map((e) => ({ schema: e.namespace, name: e.tag }));
  const blobs = entries.filter((e) => e.desc === 'BLOB').length;
  const listsBlobs = blobs > 0 || !entries.some((e) => e.desc === 'BLOB METADATA');
  return { entries, tables: named('TABLE'), tablesWithData: named('TABLE DATA'), largeObjects: listsBlobs ? blobs : null };
};
