import { lsnValue } from './artifact.js';
import { buildManifest, ManifestError, manifestDisagreements, MANIFEST_FORMAT, parseManifest, readManifest } from './manifest.js';

const digest = { sha256: 'a'.repeat(64), sizeBytes: 14 };
const plan = {
  backupId: '0190f4a0-0000-7000-8000-000000000001',
  resource: 'orders-db',
  resourceKind: 'postgres' as const,
  policy: 'orders-hourly',
  method: 'pg_dump-custom' as const,
  recoveryPoint: '2026-01-01T00:00:00.000Z',
  startedAt: '2026-01-01T00:00:00.000Z',
  encryption: null,
  threeTwoOne: { compliant: true, resourceSite: 'dc-1', failedRules: [], optOut: null },
};
const written = buildManifest(plan, {
  finishedAt: '2026-01-01T00:00:05.000Z',
  stored: digest,
  plaintext: digest,
  tools: { node: '20.19.0', pg_dump: '17.2' },
  copies: [{ location: 'local-disk', site: 'dc-1', medium: 'disk', uri: 'file:///backups/orders-db/x.dump' }],
  files: null,
  skipped: [],
  tables: [{ schema: 'public', name: 'orders', rows: 3 }],
});

describe('the backup manifest', () => {
  it('is built from the plan and what was stored, with the tool versions it is given', () => {
    expect(written).toMatchObject({ format: MANIFEST_FORMAT, backupId: plan.backupId, stored: digest, tools: { node: '20.19.0', pg_dump: '17.2' }, tables: [{ name: 'orders', rows: 3 }] });
    expect(written).not.toHaveProperty('tablesNotRecorded');
  });

  it('what the writer writes, a reader reads back and finds in agreement with the event', () => {
    const bytes = Buffer.from(JSON.stringify(written));
    expect(parseManifest(bytes)).toEqual(written);
    const { manifest, sha256 } = readManifest(bytes);
    expect(sha256).toMatch(/^[0-9a-f]{64}$/);
    expect(manifest.tables).toEqual(written.tables);
    expect(manifestDisagreements(manifest, { backupId: plan.backupId, sha256: digest.sha256, sizeBytes: 14, plaintext: digest })).toEqual([]);
    expect(manifestDisagreements(manifest, { backupId: plan.backupId, sha256: 'b'.repeat(64), sizeBytes: 14, plaintext: null })).toEqual([
      `records 14 bytes with SHA-256 ${'a'.repeat(64)}; the event says 14 bytes with ${'b'.repeat(64)}`,
    ]);
  });

  it('a reader names every bad field; the writer refuses another format', () => {
    expect(() => readManifest(Buffer.from('{'))).toThrow(/^is not JSON/);
    // The bytes read are never quoted, only where the error is.
    expect(() => readManifest(Buffer.from('{"a": root:x:0:0:root:/root:/bin/bash'))).toThrow(/^is not JSON$/);
    expect(() => readManifest(Buffer.from('{"a": 1,'))).toThrow(/^is not JSON \(syntax error at byte 8 of 8\)$/);
    expect(() => readManifest(Buffer.from(JSON.stringify({ ...written, backupId: 'x', stored: { sha256: 'no', sizeBytes: -1 } })))).toThrow(ManifestError);
    expect(() => readManifest(Buffer.from(JSON.stringify({ ...written, backupId: 'x' })))).toThrow(/backupId: /);
    expect(() => parseManifest(Buffer.from(JSON.stringify({ format: 'other/v1' })))).toThrow('not a continuity backup manifest (format "other/v1")');
  });

  it('a base backup records its compression and WAL range; manifests without them stay valid', () => {
    const basebackup = { startLsn: '0/2000028', endLsn: '0/2000100', timeline: 1, label: 'continuity-x', pgVersion: '15', systemIdentifier: '7443320958462394381', backupManifestSha256: 'c'.repeat(64) };
    const base = buildManifest({ ...plan, method: 'basebackup' }, { finishedAt: plan.startedAt, stored: digest, plaintext: digest, tools: {}, copies: [], files: null, skipped: [], compression: { format: 'zstd', level: 1 }, basebackup });
    const { manifest } = readManifest(Buffer.from(JSON.stringify(base)));
    expect(manifest).toMatchObject({ method: 'basebackup', compression: { format: 'zstd', level: 1 }, basebackup });
    expect(written).not.toHaveProperty('basebackup');
    expect(readManifest(Buffer.from(JSON.stringify(written))).manifest.basebackup).toBeUndefined();
    expect(() => readManifest(Buffer.from(JSON.stringify({ ...base, basebackup: { ...basebackup, startLsn: 'zero' } })))).toThrow(/basebackup\.startLsn/);
    expect(lsnValue('0/2000100') > lsnValue('0/2000028')).toBe(true);
    expect(lsnValue('1/0')).toBe(1n << 32n);
  });
});
