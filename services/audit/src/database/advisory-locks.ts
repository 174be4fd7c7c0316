/**
 * PostgreSQL advisory lock ids of the audit database. The ledger writer holds WRITER_LOCK for each
 * batch so log indices stay contiguous across every audit instance; the projection rebuild holds
 * it so no entry lands while projections are replaced.
 */
export const WRITER_LOCK = 0x6175_6469; // "audi"
