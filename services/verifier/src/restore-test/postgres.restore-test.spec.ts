import { Readable } from 'node:stream';
import { InvalidRestoreSettingError } from '@continuity/runtime';
import type { CopyReader } from '../copies/copy-reader.js';
import { PostgresRestoreTest } from './postgres.restore-test.js';
import type { RestoreTestContext } from './restore-test.js';
import { RestoreRoleRefusedError, type Scratch } from './scratch.js';

const noScratch = () => {
  const made: string[] = [];
  const scratch = {
    database: async (backupId: string) => {
      made.push(backupId);
      throw new RestoreRoleRefusedError('the restore role postgres is a superuser');
    },
  } as unknown as Scratch;
  return { scratch, made };
};

const contextOf = (bytes: Buffer): RestoreTestContext => ({
  backupId: 'bk-unreadable',
  resource: 'orders-db',
  copy: { location: 'disk-a', uri: 'file:///copies/bk-unreadable.dump', sizeBytes: bytes.length },
  reader: { scheme: 'file', open: async () => Readable.from([bytes]) } as unknown as CopyReader,
  encryption: null,
  identities: [],
  plaintext: null,
  manifest: null,
  signal: new AbortController().signal,
});

describe('PostgresRestoreTest', () => {
  it('refuses a maintenance_work_mem that is not a bounded size when it is made, before any scratch database', () => {
    const { scratch, made } = noScratch();
    for (const bad of ['512MB -c fsync=off', '32GB', 'lots']) {
      expect(() => new PostgresRestoreTest(scratch, { assertionTimeoutMs: 1_000, assertionsFor: () => [], maintenanceWorkMem: bad })).toThrow(InvalidRestoreSettingError);
    }
    expect(made).toEqual([]);
    expect(() => new PostgresRestoreTest(scratch, { assertionTimeoutMs: 1_000, assertionsFor: () => [], maintenanceWorkMem: null })).not.toThrow();
  });

  it('fails an unreadable archive and logs why the scratch database could not be made either', async () => {
    const { scratch, made } = noScratch();
    const warnings: string[] = [];
    const tester = new PostgresRestoreTest(scratch, { assertionTimeoutMs: 1_000, assertionsFor: () => [], logger: { warn: (m: string) => warnings.push(m) } });
    const outcome = await tester.run(contextOf(Buffer.from('NOTADUMP and nothing else')));
    expect(made).toEqual(['bk-unreadable']);
    expect(outcome.unverifiable).toBeNull();
    expect(outcome.result).toMatchObject({ status: 'failed', checks: [{ name: 'archive readable (pg_restore --list)', passed: false }] });
    expect(warnings).toEqual(['restore test of bk-unreadable: the scratch database could not be made either: RestoreRoleRefusedError: the restore role postgres is a superuser']);
  });
});
