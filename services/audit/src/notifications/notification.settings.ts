import type { AuditConfig } from '../config/audit.config.js';
import { loadNotificationsConfig } from './notification.config.js';

/** DI token of the `NotificationSettings`: read (secrets included) once at start; a bad file stops the start. */
export const NOTIFICATION_SETTINGS = Symbol('NOTIFICATION_SETTINGS');

export const loadNotificationSettings = (config: AuditConfig) => loadNotificationsConfig(config.AUDIT_NOTIFICATIONS_FILE);
