import { configure } from 'safe-stable-stringify';
import { leafHash } from './merkle.js';

/**
 * JSON text with every object's keys sorted by UTF-16 code units, numbers as ECMAScript writes them
 * and strings escaped as `JSON.stringify` does: for JSON values (what `JSON.parse` gives) that is
 * exactly RFC 8785 (JCS). safe-stable-stringify writes it about twice as fast as `canonicalize`,
 * the RFC authors' reference, which the tests compare it with (decision 0050). Strict: a value JSON
 * cannot hold (NaN, a function, a cycle, a bigint) is refused, never written as something else.
 */
const jcs = configure({ deterministic: true, strict: true, circularValue: Error, bigint: false });

/** RFC 8785 (JCS) canonical JSON text: the same envelope always gives the same text, whoever serialised it. */
export const canonicalText = (value: unknown): string => {
  const text = jcs(value);
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
