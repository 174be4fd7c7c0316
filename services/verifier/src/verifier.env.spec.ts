import { loadConfig } from '@continuity/runtime';
import { verifierEnvSchema } from './verifier.env.js';

describe('the verifier environment: a restore test’s maintenance_work_mem', () => {
  it('is 512MB unless set, and takes a size in kB, MB or GB', () => {
    expect(loadConfig(verifierEnvSchema, {}).VERIFIER_RESTORE_MAINTENANCE_WORK_MEM).toBe('512MB');
    expect(loadConfig(verifierEnvSchema, { VERIFIER_RESTORE_MAINTENANCE_WORK_MEM: '2GB' }).VERIFIER_RESTORE_MAINTENANCE_WORK_MEM).toBe('2GB');
  });

  it('refuses to start with one that is not a size, or out of bounds, naming the variable', () => {
    expect(() => loadConfig(verifierEnvSchema, { VERIFIER_RESTORE_MAINTENANCE_WORK_MEM: '1GB -c fsync=off' })).toThrow(
      'VERIFIER_RESTORE_MAINTENANCE_WORK_MEM: must be a whole number of kB, MB or GB, such as 512MB (got "1GB -c fsync=off")',
    );
    expect(() => loadConfig(verifierEnvSchema, { VERIFIER_RESTORE_MAINTENANCE_WORK_MEM: '64GB' })).toThrow('VERIFIER_RESTORE_MAINTENANCE_WORK_MEM: must be from 1MB to 16GB (got "64GB")');
  });
});
