import { ledgerBaseUrl } from './ledger-wal.js';

describe('ledgerBaseUrl: where a restore may read the audit ledger from', () => {
  it('takes https anywhere and plain http on this machine only, without query or fragment', () => {
    expect(ledgerBaseUrl('https://audit.example:3004/?x=1#y').toString()).toBe('https://audit.example:3004/');
    expect(ledgerBaseUrl('http://127.0.0.1:3004').toString()).toBe('http://127.0.0.1:3004/');
    expect(ledgerBaseUrl('http://localhost:3004').host).toBe('localhost:3004');
    expect(ledgerBaseUrl('http://[::1]:3004').hostname).toBe('[::1]');
  });

  it('attack: refuses plain http to another host (the token and the answer would cross the network in clear)', () => {
    expect(() => ledgerBaseUrl('http://audit.example:3004')).toThrow(/must be https:\/\/ for a host other than this machine/);
    expect(() => ledgerBaseUrl('http://127.0.0.1.evil.example:3004')).toThrow(/https/);
  });

  it('attack: refuses credentials in the URL, other schemes and non-URLs, never echoing a password', () => {
    const error = (() => {
      try {
        ledgerBaseUrl('https://auditor:s3cret-token@audit.example');
      } catch (e) {
        return e as Error;
      }
      return null;
    })();
    expect(error?.message).toMatch(/must not hold credentials/);
    expect(error?.message).not.toContain('s3cret-token');
    expect(() => ledgerBaseUrl('file:///etc/passwd')).toThrow(/http\(s\) URL/);
    expect(() => ledgerBaseUrl('not a url')).toThrow(/is not a URL/);
  });
});
