/** DI tokens of the backup service's own providers. */
export const BACKUP_CONFIG = Symbol('BACKUP_CONFIG');
/** The whole object graph built by `wireBackup`; the tokens below are the parts that are injected. */
export const BACKUP_GRAPH = Symbol('BACKUP_GRAPH');
export const CATALOGUE = Symbol('CATALOGUE');
export const BACKUP_RUNNER = Symbol('BACKUP_RUNNER');
export const RETENTION = Symbol('RETENTION');
export const RESTORE_JOBS = Symbol('RESTORE_JOBS');
export const DRILLS = Symbol('DRILLS');
export const DRILL_STORE = Symbol('DRILL_STORE');
