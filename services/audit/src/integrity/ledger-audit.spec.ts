import { aBackupCreatedData, anEvent } from '@continuity/contracts/testing';
import { envelopeLeafHash } from '@continuity/contracts/ledger';
import { LedgerAuditor } from './ledger-audit.js';

const stored = (logIndex: number) => {
  const envelope = JSON.parse(JSON.stringify(anEvent('BackupCreated', { data: aBackupCreatedData() })));
  return { logIndex, envelope, leafHash: envelopeLeafHash(envelope).toString('hex') };
};

describe('LedgerAuditor', () => {
  it('given a short gap, when fed, then the gap is missing and the tree goes on (later roots recomputed over stand-in leaves)', () => {
    const auditor = new LedgerAuditor([], []);
    auditor.feed([stored(0), stored(1), stored(5)]);
    expect(auditor.finish().map((f) => `${f.kind}@${'logIndex' in f ? f.logIndex : ''}`)).toEqual(['missing@2']);
    expect(auditor.entriesChecked).toBe(6);
  });

  it('given an entry forged at a far index (2^53 − 1), when fed, then it is reported at once without standing in for every entry before it', () => {
    const auditor = new LedgerAuditor([], []);
    const started = performance.now();
    auditor.feed([stored(0), stored(1), stored(Number.MAX_SAFE_INTEGER), stored(2)]);
    expect(performance.now() - started).toBeLessThan(1_000);
    const findings = auditor.finish().map((f) => `${f.kind}@${'logIndex' in f ? f.logIndex : ''}`);
    expect(findings).toEqual(['missing@2', `out-of-place@${Number.MAX_SAFE_INTEGER}`]);
    expect(auditor.entriesChecked).toBe(3); // entry 2, fed after it, is still placed
  });
});
