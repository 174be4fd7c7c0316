import { serviceProcessSuite } from '@continuity/runtime/testing';

serviceProcessSuite('audit', 'FailoverTriggered');
