/**
 * PostgreSQL advisory lock ids of the audit database.
 *
 * - WRITER_LOCK (transaction level): held by each ledger batch, so log indices stay contiguous even
 *   in the moment a lease changes hands; the projection rebuild holds it so no entry lands while
 *   projections are replaced.
 * - WRITER_LEASE_LOCK (session level): held by the one instance that appends and signs, for as long
 *   as its connection lives; PostgreSQL releases it when that connection dies, and a standby takes it.
 * - KEYS_LOCK (transaction level): one instance at a time adds a key to the key history, so a key
 *   change is recorded, and reported, once.
 */
export const WRITER_LOCK = 0x6175_6469; // "audi"
export const WRITER_LEASE_LOCK = 0x6175_6477; // "audw"
export const KEYS_LOCK = 0x6175_646b; // "audk"
