import { InvalidRestoreSettingError } from '@continuity/runtime/standalone';
import { RestoreService, type RestoreDeps } from './restore.service.js';

const deps = (maintenanceWorkMem?: string): RestoreDeps => ({
  catalogue: { get: async () => null } as unknown as RestoreDeps['catalogue'],
  location: () => null,
  resource: () => undefined,
  recordPerformed: async () => undefined,
  maintenanceWorkMem,
});

describe('RestoreService', () => {
  it('refuses a maintenance_work_mem that is not a bounded size when it is made, before any restore creates a database', () => {
    for (const bad of ['512MB -c fsync=off', '1 GB', '32GB', '512kB']) expect(() => new RestoreService(deps(bad))).toThrow(InvalidRestoreSettingError);
    expect(() => new RestoreService(deps('96MB'))).not.toThrow();
    expect(() => new RestoreService(deps())).not.toThrow();
  });
});
