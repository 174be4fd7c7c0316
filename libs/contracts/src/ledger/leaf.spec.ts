import { createHash } from 'node:crypto';
import reference from 'canonicalize';
import { aBackupCreatedData, anEvent } from '../testing.js';
import { canonicalLeaf, canonicalText, envelopeLeafHash } from './leaf.js';

/** A small deterministic PRNG (mulberry32): the same corpus on every run. */
const random = (seed: number) => () => {
  seed = (seed + 0x6d2b79f5) | 0;
  let t = Math.imul(seed ^ (seed >>> 15), 1 | seed);
  t = (t + Math.imul(t ^ (t >>> 7), 61 | t)) ^ t;
  return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
};

/** Keys and strings that stress sorting and escaping: digits (index-like keys), controls, surrogate pairs, lone surrogates, non-BMP. */
const TRICKY = ['', 'a', 'A', 'b', '10', '9', '0', '01', '-1', '1.5', '\r', '\u0000', '\u001f', '"', '\\', '/', '\u0080', 'ö', '€', '\ufb33', '😀', '\ud83d', '\ude00', 'x\u2028y', 'é', 'e\u0301', ' ', 'Ω', '\u007f', 'key with spaces'];
const NUMBERS = [0, -0, 1, -1, 0.1, 1e21, 1e-7, 1e-6, 123456789012345680000, 5e-324, 1.7976931348623157e308, 2 ** 53, -(2 ** 53) - 2, 333333333.3333333, 4.35, 0.000001, 1e-27, 295147905179352830000];

const jsonValue = (next: () => number, depth: number): unknown => {
  const pick = <T>(items: readonly T[]) => items[Math.floor(next() * items.length)]!;
  const roll = next();
  if (depth === 0 || roll < 0.35) {
    const kind = Math.floor(next() * 6);
    if (kind === 0) return null;
    if (kind === 1) return next() < 0.5;
    if (kind === 2) return pick(NUMBERS);
    if (kind === 3) return (next() - 0.5) * 10 ** Math.floor(next() * 40 - 20);
    return Array.from({ length: Math.floor(next() * 3) + 1 }, () => pick(TRICKY)).join('');
  }
  if (roll < 0.6) return Array.from({ length: Math.floor(next() * 5) }, () => jsonValue(next, depth - 1));
  const object: Record<string, unknown> = {};
  for (let i = Math.floor(next() * 7); i > 0; i--) object[Array.from({ length: Math.floor(next() * 2) + 1 }, () => pick(TRICKY)).join('')] = jsonValue(next, depth - 1);
  return object;
};

describe('leaf', () => {
  it('given keys in any order and insignificant whitespace, when canonicalised, then the text is RFC 8785: sorted keys, no spaces', () => {
    expect(canonicalText(JSON.parse('{ "b": [3, {"z": 1, "a": "é"}], "a": 1e21, "10": null, "9": true }'))).toBe('{"10":null,"9":true,"a":1e+21,"b":[3,{"a":"é","z":1}]}');
  });

  it("given RFC 8785's own examples (§3.2.3 sorting, §3.2.2 literals and numbers), when canonicalised, then the text is the RFC's", () => {
    const sorting = JSON.parse(
      '{"\\u20ac": "Euro Sign", "\\r": "Carriage Return", "\\ufb33": "Hebrew Letter Dalet With Dagesh", "1": "One", "\\ud83d\\ude00": "Emoji: Grinning Face", "\\u0080": "Control", "\\u00f6": "Latin Small Letter O With Diaeresis"}',
    );
    expect(canonicalText(sorting)).toBe(
      '{"\\r":"Carriage Return","1":"One","\u0080":"Control","\u00f6":"Latin Small Letter O With Diaeresis","\u20ac":"Euro Sign","\ud83d\ude00":"Emoji: Grinning Face","\ufb33":"Hebrew Letter Dalet With Dagesh"}',
    );
    const literals = JSON.parse('{"numbers": [333333333.33333329, 1E30, 4.50, 2e-3, 0.000000000000000000000000001], "string": "\\u20ac$\\u000F\\u000aA\'\\u0042\\u0022\\u005c\\\\\\"\\/", "literals": [null, true, false]}');
    expect(canonicalText(literals)).toBe('{"literals":[null,true,false],"numbers":[333333333.3333333,1e+30,4.5,0.002,1e-27],"string":"€$\\u000f\\nA\'B\\"\\\\\\\\\\"/"}');
  });

  it('given 5,000 generated JSON values (index-like, non-BMP and lone-surrogate keys, every kind of number), when canonicalised, then each text equals the reference implementation\'s (canonicalize)', () => {
    const next = random(8785);
    let objects = 0;
    for (let i = 0; i < 5_000; i++) {
      const value = JSON.parse(JSON.stringify(jsonValue(next, 4)));
      if (value !== null && typeof value === 'object' && !Array.isArray(value)) objects++;
      expect(canonicalText(value)).toBe(reference(value));
    }
    expect(objects).toBeGreaterThan(1_000); // the corpus is not all scalars
  });

  it('given values JSON cannot hold (NaN, Infinity, a function, a bigint, a cycle, undefined), when canonicalised, then each is refused rather than written as something else', () => {
    const cycle: Record<string, unknown> = {};
    cycle.self = cycle;
    for (const value of [Number.NaN, { a: Number.POSITIVE_INFINITY }, { f: () => 1 }, { n: 1n }, cycle, undefined]) expect(() => canonicalText(value)).toThrow();
  });

  it('given an envelope as published, when its leaf is made, then the stored text is the same JSON value and the hash is SHA-256(0x00 ‖ that text)', () => {
    const published = JSON.parse(JSON.stringify(anEvent('BackupCreated', { resource: 'orders-db', data: aBackupCreatedData() })));
    const { text, hash } = canonicalLeaf(published);
    expect(JSON.parse(text)).toEqual(published);
    expect(text).toBe(reference(published));
    expect(hash.equals(createHash('sha256').update(Buffer.from([0])).update(text, 'utf8').digest())).toBe(true);
    expect(hash.equals(envelopeLeafHash(published))).toBe(true);
  });

  it('given a re-serialised envelope (other key order), when its leaf is made, then text and hash are unchanged', () => {
    const published = JSON.parse(JSON.stringify(anEvent('BackupCreated', { resource: 'orders-db', data: aBackupCreatedData() })));
    const reordered = Object.fromEntries(Object.entries(published).reverse());
    expect(canonicalLeaf(reordered)).toEqual(canonicalLeaf(published));
  });
});
