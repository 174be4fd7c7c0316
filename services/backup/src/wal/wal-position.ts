import { lsnValue, WAL_SEGMENT_BYTES } from '@continuity/artifacts';

/** A WAL position as PostgreSQL prints it (`X/Y`, upper-case hex). */
export const lsnText = (value: bigint) => `${(value >> 32n).toString(16).toUpperCase()}/${(value & 0xffffffffn).toString(16).toUpperCase()}`;

/** The start of the segment holding `lsn`. */
export const segmentStart = (lsn: string, segmentBytes = WAL_SEGMENT_BYTES): string => {
  const value = lsnValue(lsn);
  return lsnText(value - (value % BigInt(segmentBytes)));
};

/** The name of the WAL segment file holding `lsn` on `timeline` (what `pg_walfile_name` answers). */
export const segmentNameAt = (timeline: number, lsn: string, segmentBytes = WAL_SEGMENT_BYTES): string => {
  const perLog = 0x1_0000_0000n / BigInt(segmentBytes);
  const segno = lsnValue(lsn) / BigInt(segmentBytes);
  const hex = (n: bigint | number, width = 8) => n.toString(16).toUpperCase().padStart(width, '0');
  return `${hex(timeline)}${hex(segno / perLog)}${hex(segno % perLog)}`;
};

export const lsnMax = (a: string, b: string) => (lsnValue(a) >= lsnValue(b) ? a : b);
