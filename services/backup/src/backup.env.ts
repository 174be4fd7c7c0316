import { z } from 'zod';
import { baseEnvSchema, defaultRestoreJobs, restoreMaintenanceWorkMemEnv } from '@continuity/runtime/standalone';

/** The backup service's environment: the shared variables plus where its policy file is. */
export const backupEnvSchema = baseEnvSchema(3001).extend({
  /** YAML file of resources, locations and policies; unset = no policies (the service says so). */
  CONTINUITY_CONFIG: z.string().min(1).optional(),
  /** `off` disables scheduled backups and retention in this process (on-demand still works). */
  BACKUP_SCHEDULER: z.enum(['on', 'off']).default('on'),
  /** `off` disables the continuous WAL archive in this process. */
  BACKUP_WAL_ARCHIVE: z.enum(['on', 'off']).default('on'),
  /**
   * Where pg_receivewal writes WAL before it is shipped (a folder per resource). It holds WAL the
   * slot no longer keeps: put it on durable storage that survives a restart of the service.
   */
  BACKUP_WAL_SPOOL: z.string().min(1).default('wal-spool'),
  /** `pg_restore --jobs` of a dump restored into a new database; default min(4, cores). */
  BACKUP_RESTORE_JOBS: z.coerce.number({ message: 'must be a number' }).int('must be a whole number').min(1, 'must be at least 1').max(32, 'must be at most 32').default(defaultRestoreJobs()),
  /** `maintenance_work_mem` of a restore's pg_restore sessions (index builds sort in memory up to it); `<n>kB|MB|GB`, 1MB to 16GB, default 512MB. */
  BACKUP_RESTORE_MAINTENANCE_WORK_MEM: restoreMaintenanceWorkMemEnv(),
});

export type BackupEnv = z.infer<typeof backupEnvSchema>;
