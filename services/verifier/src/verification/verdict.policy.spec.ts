import type { CopyOutcome } from '../copies/copy-check.js';
import type { RestoreTestOutcome } from '../restore-test/restore-test.js';
import { judge, restoreSource } from './verdict.policy.js';

const copy = (location: string, status: CopyOutcome['status'], error: string | null = null, uri = `file:///b/${location}.dump`): CopyOutcome => ({
  status,
  check: { location, uri, readable: status === 'good', sizeMatch: status === 'good', hashMatch: status === 'good', actualSha256: null, durationMs: 1, mbPerSec: 1, error },
});
const restore = (status: 'passed' | 'failed' | 'skipped', checks: { name: string; passed: boolean; detail: string | null }[] = [], unverifiable: string | null = null): RestoreTestOutcome => ({
  result: { status, durationMs: 10, checks },
  unverifiable,
});

describe('judge', () => {
  it('passes when every copy is good and the restore test passed', () => {
    expect(judge({ copies: [copy('a', 'good'), copy('b', 'good')], restoreTest: restore('passed', [{ name: 'pg_restore', passed: true, detail: null }]) })).toEqual({ verdict: 'passed', reasons: [] });
  });

  it('passes on copies alone when restore tests are switched off', () => {
    expect(judge({ copies: [copy('a', 'good')], restoreTest: null })).toEqual({ verdict: 'passed', reasons: [] });
  });

  it('fails naming each bad copy, and the restore test checks that failed', () => {
    const result = judge({
      copies: [copy('a', 'good'), copy('nas', 'bad', 'SHA-256 is x, expected y'), copy('s3', 'unverifiable', 'location type s3:// is not one this verifier can read', 's3://b/k')],
      restoreTest: restore('failed', [
        { name: 'pg_restore', passed: true, detail: null },
        { name: 'assertion "orders"', passed: false, detail: 'returned false, not true' },
      ]),
    });
    expect(result).toEqual({
      verdict: 'failed',
      reasons: [
        'copy nas (file:///b/nas.dump): SHA-256 is x, expected y',
        'restore test: assertion "orders" failed: returned false, not true',
        'copy s3 (s3://b/k) is unverifiable: location type s3:// is not one this verifier can read',
      ],
    });
  });

  it('is unverifiable when nothing failed but a copy or the restore test could not be checked', () => {
    expect(judge({ copies: [copy('a', 'good'), copy('s3', 'unverifiable', 'no reader', 's3://b/k')], restoreTest: restore('passed') })).toEqual({
      verdict: 'unverifiable',
      reasons: ['copy s3 (s3://b/k) is unverifiable: no reader'],
    });
    expect(judge({ copies: [copy('a', 'good')], restoreTest: restore('skipped', [], 'encrypted and no key') })).toEqual({
      verdict: 'unverifiable',
      reasons: ['restore test not possible: encrypted and no key'],
    });
  });

  it('does not count a restore test skipped by design (an external backup) against the backup', () => {
    expect(judge({ copies: [copy('a', 'good')], restoreTest: restore('skipped', [{ name: 'restore test skipped', passed: true, detail: 'external' }]) }).verdict).toBe('passed');
  });

  it('fails a backup that lists no copies', () => {
    expect(judge({ copies: [], restoreTest: null })).toEqual({ verdict: 'failed', reasons: ['the backup lists no copies'] });
  });
});

describe('restoreSource', () => {
  it('reads a good local copy first, else any good copy, else none', () => {
    const object = copy('offsite', 'good', null, 'nats-object://b/k');
    expect(restoreSource([object, copy('a', 'bad'), copy('nas', 'good')])!.check.location).toBe('nas');
    expect(restoreSource([copy('a', 'bad'), object])!.check.location).toBe('offsite');
    expect(restoreSource([copy('a', 'bad'), copy('s3', 'unverifiable')])).toBeNull();
  });
});
