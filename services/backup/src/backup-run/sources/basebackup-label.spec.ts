import { basebackupArgs, infoFromManifest, parseBackupLabel, serverCompressedBasebackupArgs, systemIdentifierOf, walRangesOf } from './basebackup-label.js';
import { pgToolInvocation } from './pg-tool.js';

const LABEL = `START WAL LOCATION: 0/2000028 (file 000000010000000000000002)
CHECKPOINT LOCATION: 0/2000060
BACKUP METHOD: streamed
BACKUP FROM: primary
START TIME: 2026-11-30 23:32:06 UTC
LABEL: continuity-0190f4a0-0000-7000-8000-000000000001
START TIMELINE: 1
`;

describe('what a base backup says about itself', () => {
  it('reads backup_label: start position, timeline, label', () => {
    expect(parseBackupLabel(LABEL)).toEqual({ startLsn: '0/2000028', timeline: 1, label: 'continuity-0190f4a0-0000-7000-8000-000000000001' });
    expect(() => parseBackupLabel(LABEL.replace(/START TIMELINE.*\n/, ''))).toThrow('backup_label has no START TIMELINE');
    expect(() => parseBackupLabel('LABEL: x\n')).toThrow('backup_label has no START WAL LOCATION');
  });

  it("reads backup_manifest's WAL-Ranges", () => {
    const manifest = JSON.stringify({ 'PostgreSQL-Backup-Manifest-Version': 1, Files: [], 'WAL-Ranges': [{ Timeline: 1, 'Start-LSN': '0/2000028', 'End-LSN': '0/2000100' }] });
    expect(walRangesOf(manifest)).toEqual([{ timeline: 1, startLsn: '0/2000028', endLsn: '0/2000100' }]);
    expect(() => walRangesOf('{"Files": []}')).toThrow('no valid WAL-Ranges');
    expect(() => walRangesOf('{')).toThrow('not JSON');
  });

  it("reads the system identifier from pg_control's first 8 bytes", () => {
    const control = Buffer.alloc(16);
    control.writeBigUInt64LE(7443320958462394381n, 0);
    expect(systemIdentifierOf(control)).toBe('7443320958462394381');
    expect(() => systemIdentifierOf(Buffer.alloc(4))).toThrow(/shorter/);
  });

  it('asks pg_basebackup for one tar on stdout with its WAL and a SHA-256 manifest; the password only in PGPASSWORD', () => {
    const { args, env } = pgToolInvocation('postgres://backup:s3cr%40t@db.internal:5432/postgres', basebackupArgs('0190f4a0-0000-7000-8000-000000000001'), { PATH: '/usr/bin' });
    expect(args).toEqual([
      '--dbname=postgres://backup@db.internal:5432/postgres',
      '--format=tar',
      '--pgdata=-',
      '--wal-method=fetch',
      '--checkpoint=fast',
      '--manifest-checksums=CRC32C',
      '--label=continuity-0190f4a0-0000-7000-8000-000000000001',
      '--no-password',
    ]);
    expect(args.join(' ')).not.toContain('s3cr');
    expect(env).toEqual({ PATH: '/usr/bin', PGPASSWORD: 's3cr@t' });
  });
});

describe('server-compressed base backups', () => {
  const manifest = (ranges: { Timeline: number; 'Start-LSN': string; 'End-LSN': string }[]) => JSON.stringify({ 'PostgreSQL-Backup-Manifest-Version': 1, Files: [], 'WAL-Ranges': ranges });
  const server = { systemIdentifier: '7312345678901234567', timeline: 2, versionNum: 150010 };

  it('asks the server for zstd into a folder, with the CRC-32C manifest and our label', () => {
    expect(serverCompressedBasebackupArgs('b1', '/spool/out', 1)).toEqual(
      expect.arrayContaining(['--format=tar', '--pgdata=/spool/out', '--wal-method=fetch', '--compress=server-zstd:level=1', '--manifest-checksums=CRC32C', '--label=continuity-b1', '--no-password']),
    );
  });

  it('takes start, end and timeline from the manifest and identity from the server', () => {
    const text = manifest([
      { Timeline: 2, 'Start-LSN': '0/5000028', 'End-LSN': '0/6000000' },
      { Timeline: 3, 'Start-LSN': '0/6000000', 'End-LSN': '0/6000100' },
    ]);
    expect(infoFromManifest(text, server, 'continuity-b1')).toEqual({
      startLsn: '0/5000028',
      endLsn: '0/6000100',
      timeline: 2,
      label: 'continuity-b1',
      pgVersion: '15',
      systemIdentifier: '7312345678901234567',
    });
  });

  it('refuses a manifest that starts on another timeline than the server was on', () => {
    expect(() => infoFromManifest(manifest([{ Timeline: 1, 'Start-LSN': '0/5000028', 'End-LSN': '0/6000000' }]), server, 'l')).toThrow('starts on timeline 1, the server was on 2');
  });
});
