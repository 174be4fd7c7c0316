import { serviceProcessSuite } from '@continuity/runtime/testing';

serviceProcessSuite('backup', 'IntegrityVerified');
