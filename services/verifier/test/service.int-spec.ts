import { serviceProcessSuite } from '@continuity/runtime/testing';

serviceProcessSuite('verifier', 'BackupCreated');
