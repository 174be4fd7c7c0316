import { context, trace, TraceFlags } from '@opentelemetry/api';
import { AsyncLocalStorageContextManager } from '@opentelemetry/context-async-hooks';
import { JsonLogger } from './json-logger.js';

const capture = () => {
  const lines: Record<string, any>[] = [];
  return { lines, stream: { write: (line: string) => void lines.push(JSON.parse(line)) } };
};

describe('JsonLogger (LOG_FORMAT=json)', () => {
  beforeAll(() => context.setGlobalContextManager(new AsyncLocalStorageContextManager().enable()));
  afterAll(() => context.disable());

  it('writes one JSON object a line with the active span’s trace_id and span_id', () => {
    const { lines, stream } = capture();
    const logger = new JsonLogger('backup', ['log', 'warn', 'error'], stream);
    const spanContext = { traceId: '0af7651916cd43dd8448eb211c80319c', spanId: 'b7ad6b7169203331', traceFlags: TraceFlags.SAMPLED };
    context.with(trace.setSpanContext(context.active(), spanContext), () => logger.log('backup started', 'BackupRunner'));
    logger.warn('outside any trace');
    expect(lines[0]).toMatchObject({ level: 'info', service: 'backup', context: 'BackupRunner', msg: 'backup started', trace_id: spanContext.traceId, span_id: spanContext.spanId, trace_flags: '01' });
    expect(typeof lines[0]!.time).toBe('string');
    expect(lines[1]).toMatchObject({ level: 'warn', msg: 'outside any trace' });
    expect(lines[1]!.trace_id).toBeUndefined();
  });

  it('keeps to the configured levels', () => {
    const { lines, stream } = capture();
    const logger = new JsonLogger('audit', ['error'], stream);
    logger.log('not written');
    logger.debug('not written');
    logger.error('written', 'a stack', 'Ctx');
    expect(lines).toHaveLength(1);
    expect(lines[0]).toMatchObject({ level: 'error', msg: 'written', stack: 'a stack', context: 'Ctx' });
  });

  it('never writes a URL’s password (attack: a connection string quoted in an error)', () => {
    const { lines, stream } = capture();
    const logger = new JsonLogger('backup', ['error'], stream);
    logger.error(new Error('cannot connect to postgres://app:hunter2@db/prod'), 'Ctx');
    expect(JSON.stringify(lines)).not.toContain('hunter2');
    expect(lines[0]!.msg).toContain('postgres://app:***@db/prod');
  });
});
