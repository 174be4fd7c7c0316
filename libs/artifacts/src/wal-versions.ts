import { WAL_HISTORY_PATTERN, WAL_SEGMENT_PATTERN } from './artifact.js';

/**
 * Versions of a partial WAL segment in the archive
 * ([decision 0045](../../../docs/decisions/0045-partial-wal-segments-shipped-as-versions.md)).
 * The segment still being written is shipped again and again as it grows; each shipment is
 * stored under a name of its own, `<segment>.partial.<received bytes, 8 hex digits>`, so a
 * version a restore plan recorded is never overwritten by the next one. The name says how far
 * the version reaches (the newest is the one with the most bytes) and is the same for the same
 * WAL: a version holds the segment's bytes up to that offset and zeros after, so one offset
 * names one content. A finished segment is stored under its plain name; an archive written
 * before versions existed holds its partial segment under the plain name too (its manifest
 * says `partial`).
 */
export const WAL_PARTIAL_VERSION_PATTERN = /^([0-9A-F]{24})\.partial\.([0-9A-F]{8})$/;

/** The largest segment PostgreSQL allows (`--wal-segsize` 1 GiB): a version's offset fits 8 hex digits. */
const MAX_SEGMENT_BYTES = 1 << 30;

/** The object name of the version of partial segment `segment` that holds its first `receivedBytes`. */
export const partialVersionName = (segment: string, receivedBytes: number): string => {
  if (!WAL_SEGMENT_PATTERN.test(segment)) throw new Error(`"${segment}" is not a WAL segment name`);
  if (!Number.isInteger(receivedBytes) || receivedBytes <= 0 || receivedBytes > MAX_SEGMENT_BYTES) throw new Error(`${receivedBytes} is not a partial segment's length`);
  return `${segment}.partial.${receivedBytes.toString(16).toUpperCase().padStart(8, '0')}`;
};

export interface WalObjectName {
  /** The WAL file name PostgreSQL asks for (a segment or `<timeline>.history`). */
  file: string;
  /** A partial segment's version: how many bytes of the segment it holds; null for a file under its plain name. */
  partialBytes: number | null;
}

/** What an archived object's name says, or null when it is not a WAL file or a partial version of one. */
export const parseWalObjectName = (object: string): WalObjectName | null => {
  if (WAL_SEGMENT_PATTERN.test(object) || WAL_HISTORY_PATTERN.test(object)) return { file: object, partialBytes: null };
  const match = WAL_PARTIAL_VERSION_PATTERN.exec(object);
  if (!match) return null;
  const bytes = parseInt(match[2]!, 16);
  return bytes > 0 && bytes <= MAX_SEGMENT_BYTES ? { file: match[1]!, partialBytes: bytes } : null;
};

/** A name an archive stores WAL under: a WAL file's own name, or a partial version of a segment. */
export const isWalObjectName = (object: string) => parseWalObjectName(object) !== null;

/** The WAL file an archived object holds (a partial version's segment; else the name itself). */
export const walFileOfObject = (object: string): string => parseWalObjectName(object)?.file ?? object;
