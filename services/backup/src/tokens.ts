/** DI tokens of the backup service's own providers. */
export const BACKUP_CONFIG = Symbol('BACKUP_CONFIG');
export const CATALOGUE = Symbol('CATALOGUE');
export const LOCATIONS = Symbol('LOCATIONS');
export const BACKUP_RUNNER = Symbol('BACKUP_RUNNER');
export const RETENTION = Symbol('RETENTION');
export const RESTORE = Symbol('RESTORE');
export const RESTORE_JOBS = Symbol('RESTORE_JOBS');
