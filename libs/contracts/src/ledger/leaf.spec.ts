import { createHash } from 'node:crypto';
import { aBackupCreatedData, anEvent } from '../testing.js';
import { canonicalLeaf, canonicalText, envelopeLeafHash } from './leaf.js';

describe('leaf', () => {
  it('given keys in any order and insignificant whitespace, when canonicalised, then the text is RFC 8785: sorted keys, no spaces', () => {
    expect(canonicalText(JSON.parse('{ "b": [3, {"z": 1, "a": "é"}], "a": 1e21, "10": null, "9": true }'))).toBe('{"10":null,"9":true,"a":1e+21,"b":[3,{"a":"é","z":1}]}');
  });

  it('given an envelope as published, when its leaf is made, then the stored text is the same JSON value and the hash is SHA-256(0x00 ‖ that text)', () => {
    const published = JSON.parse(JSON.stringify(anEvent('BackupCreated', { resource: 'orders-db', data: aBackupCreatedData() })));
    const { text, hash } = canonicalLeaf(published);
    expect(JSON.parse(text)).toEqual(published);
    expect(hash.equals(createHash('sha256').update(Buffer.from([0])).update(text, 'utf8').digest())).toBe(true);
    expect(hash.equals(envelopeLeafHash(published))).toBe(true);
  });

  it('given a re-serialised envelope (other key order), when its leaf is made, then text and hash are unchanged', () => {
    const published = JSON.parse(JSON.stringify(anEvent('BackupCreated', { resource: 'orders-db', data: aBackupCreatedData() })));
    const reordered = Object.fromEntries(Object.entries(published).reverse());
    expect(canonicalLeaf(reordered)).toEqual(canonicalLeaf(published));
  });
});
