import { serviceProcessSuite } from '@continuity/runtime/testing';

serviceProcessSuite('failover', 'FailoverCompleted');
