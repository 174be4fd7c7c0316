import { createHash } from 'node:crypto';

/**
 * A deterministic UUIDv7 for a finding (an SLO breach, a risk): the 48-bit time field is `atMs`,
 * the rest comes from SHA-256 of `key`. Every audit instance, before or after a restart, derives
 * the same id for the same finding, and the id is also the event id: a second publication is a
 * duplicate the stream (Nats-Msg-Id) and the ledger (unique event id) drop.
 */
export const findingId = (key: string, atMs: number): string => {
  const bytes = createHash('sha256').update(key).digest().subarray(0, 16);
  const time = Math.max(0, Math.floor(atMs));
  for (let i = 0; i < 6; i++) bytes[i] = Math.floor(time / 2 ** (8 * (5 - i))) % 256;
  bytes[6] = 0x70 | (bytes[6]! & 0x0f); // version 7
  bytes[8] = 0x80 | (bytes[8]! & 0x3f); // RFC 9562 variant
  const hex = bytes.toString('hex');
  return `${hex.slice(0, 8)}-${hex.slice(8, 12)}-${hex.slice(12, 16)}-${hex.slice(16, 20)}-${hex.slice(20)}`;
};
