import { loadConfig } from '@continuity/runtime/standalone';
import { backupEnvSchema } from './backup.env.js';

describe('the backup service environment: a restore’s maintenance_work_mem', () => {
  it('is 512MB unless set, and takes a size in kB, MB or GB', () => {
    expect(loadConfig(backupEnvSchema, {}).BACKUP_RESTORE_MAINTENANCE_WORK_MEM).toBe('512MB');
    expect(loadConfig(backupEnvSchema, { BACKUP_RESTORE_MAINTENANCE_WORK_MEM: '96MB' }).BACKUP_RESTORE_MAINTENANCE_WORK_MEM).toBe('96MB');
  });

  it('refuses to start with one that is not a size, or out of bounds, naming the variable', () => {
    expect(() => loadConfig(backupEnvSchema, { BACKUP_RESTORE_MAINTENANCE_WORK_MEM: 'lots' })).toThrow(
      'BACKUP_RESTORE_MAINTENANCE_WORK_MEM: must be a whole number of kB, MB or GB, such as 512MB (got "lots")',
    );
    expect(() => loadConfig(backupEnvSchema, { BACKUP_RESTORE_MAINTENANCE_WORK_MEM: '512kB' })).toThrow('BACKUP_RESTORE_MAINTENANCE_WORK_MEM: must be from 1MB to 16GB (got "512kB")');
  });
});
