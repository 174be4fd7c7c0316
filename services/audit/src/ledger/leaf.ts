import canonicalize from 'canonicalize';
import { leafHash } from './merkle.js';

/** RFC 8785 (JCS) canonical JSON: the same envelope always gives the same bytes, whoever serialised it. */
export const canonicalBytes = (value: unknown): Buffer => {
  const text = canonicalize(value);
  if (text === undefined) throw new TypeError('cannot canonicalise undefined');
  return Buffer.from(text, 'utf8');
};

/** The ledger's leaf hash of an envelope as published: SHA-256(0x00 ‖ JCS(envelope)). */
export const envelopeLeafHash = (envelope: unknown): Buffer => leafHash(canonicalBytes(envelope));
