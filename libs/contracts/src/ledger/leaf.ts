import canonicalize from 'canonicalize';
import { leafHash } from './merkle.js';

/** RFC 8785 (JCS) canonical JSON text: the same envelope always gives the same text, whoever serialised it. */
export const canonicalText = (value: unknown): string => {
  const text = canonicalize(value);
  if (text === undefined) throw new TypeError('cannot canonicalise undefined');
  return text;
};

/** RFC 8785 (JCS) canonical JSON as UTF-8 bytes. */
export const canonicalBytes = (value: unknown): Buffer => Buffer.from(canonicalText(value), 'utf8');

/** The ledger's leaf hash of an envelope as published: SHA-256(0x00 ‖ JCS(envelope)). */
export const envelopeLeafHash = (envelope: unknown): Buffer => leafHash(canonicalBytes(envelope));

/**
 * An envelope's canonical text and its leaf hash, from one serialisation: the writer stores the very
 * text it hashed (valid JSON, so it goes into `jsonb` as the envelope) instead of serialising again.
 */
export const canonicalLeaf = (envelope: unknown): { text: string; hash: Buffer } => {
  const text = canonicalText(envelope);
  return { text, hash: leafHash(Buffer.from(text, 'utf8')) };
};
