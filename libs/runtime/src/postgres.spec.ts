import { defaultRestoreJobs, InvalidRestoreSettingError, memorySettingKb, restoreSessionEnv } from './postgres.js';
import { restoreMaintenanceWorkMemEnv } from './config.js';

describe('defaultRestoreJobs', () => {
  it('is one job per core, at least one and at most four', () => {
    expect([0, 1, 2, 3, 4, 8, 64].map((cores) => defaultRestoreJobs(cores))).toEqual([1, 1, 2, 3, 4, 4, 4]);
  });
});

describe('restoreSessionEnv', () => {
  it('turns synchronous commit off only for a database the restore created, the caller’s own PGOPTIONS after it (they win)', () => {
    expect(restoreSessionEnv({ newDatabase: true, maintenanceWorkMem: null }, '')).toEqual({ PGOPTIONS: '-c synchronous_commit=off' });
    expect(restoreSessionEnv({ newDatabase: true, maintenanceWorkMem: null }, ' -c statement_timeout=0 ')).toEqual({ PGOPTIONS: '-c synchronous_commit=off -c statement_timeout=0' });
    expect(restoreSessionEnv({ newDatabase: false, maintenanceWorkMem: null }, '')).toEqual({ PGOPTIONS: '' });
  });

  it('sets maintenance_work_mem for every session, into a new or an existing database', () => {
    expect(restoreSessionEnv({ newDatabase: true, maintenanceWorkMem: '512MB' }, '-c maintenance_work_mem=64MB')).toEqual({
      PGOPTIONS: '-c synchronous_commit=off -c maintenance_work_mem=512MB -c maintenance_work_mem=64MB',
    });
    expect(restoreSessionEnv({ newDatabase: false, maintenanceWorkMem: '1GB' }, '').PGOPTIONS).toMatch(/^-c maintenance_work_mem=1GB/);
  });

  it('refuses a memory setting that is not one (it would add options to PGOPTIONS) or is out of bounds', () => {
    for (const bad of ['512MB -c fsync=off', '512 MB', '512mb', '0MB', '512', '-1GB', '1TB', '17GB', '512kB', '']) {
      expect(() => restoreSessionEnv({ newDatabase: true, maintenanceWorkMem: bad }, '')).toThrow(InvalidRestoreSettingError);
    }
    expect(() => restoreSessionEnv({ newDatabase: true, maintenanceWorkMem: '1 GB' }, '')).toThrow('maintenance_work_mem of a restore must be a whole number of kB, MB or GB, such as 512MB (got "1 GB")');
  });
});

describe('memorySettingKb', () => {
  it('reads kB, MB and GB as PostgreSQL does (1024 each)', () => {
    expect(['1024kB', '64MB', '2GB', '64mb', '1.5GB', '08MB'].map(memorySettingKb)).toEqual([1024, 65536, 2097152, null, null, null]);
  });
});

describe('restoreMaintenanceWorkMemEnv', () => {
  const schema = restoreMaintenanceWorkMemEnv();
  it('defaults to 512MB and accepts a bounded size', () => {
    expect(schema.parse(undefined)).toBe('512MB');
    expect(schema.parse(' 2GB ')).toBe('2GB');
    expect(schema.parse('1MB')).toBe('1MB');
    expect(schema.parse('16GB')).toBe('16GB');
  });
  it('refuses anything else with a message that says what it must be', () => {
    expect(schema.safeParse('lots').error?.issues[0]?.message).toMatch(/must be a whole number of kB, MB or GB, such as 512MB/);
    expect(schema.safeParse('32GB').error?.issues[0]?.message).toBe('must be from 1MB to 16GB');
    expect(schema.safeParse('512kB').error?.issues[0]?.message).toBe('must be from 1MB to 16GB');
  });
});
