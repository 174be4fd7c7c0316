import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { serviceProcessSuite } from '@continuity/runtime/testing';

serviceProcessSuite('audit', 'FailoverTriggered', { AUDIT_SIGNING_KEY_FILE: join(tmpdir(), `continuity-audit-process-${process.pid}.pem`) });
