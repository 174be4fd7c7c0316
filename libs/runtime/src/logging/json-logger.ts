import type { LoggerService, LogLevel } from '@nestjs/common';
import { context, isSpanContextValid, trace } from '@opentelemetry/api';
import pino, { type DestinationStream, type Level, type Logger } from 'pino';
import { redactSecrets } from '../secrets.js';

/** Nest's levels as pino's. */
const PINO_LEVEL: Record<LogLevel, Level> = { fatal: 'fatal', error: 'error', warn: 'warn', log: 'info', debug: 'debug', verbose: 'trace' };

/**
 * The trace and span of the active context, as OpenTelemetry's log data model names them: a log
 * line written while handling a traced event (or inside a backup run) joins the trace in any
 * backend that reads `trace_id`. Nothing when no span is active.
 */
export const traceFields = (): { trace_id?: string; span_id?: string; trace_flags?: string } => {
  const span = trace.getSpan(context.active());
  if (!span) return {};
  const ctx = span.spanContext();
  if (!isSpanContextValid(ctx)) return {};
  return { trace_id: ctx.traceId, span_id: ctx.spanId, trace_flags: `0${ctx.traceFlags.toString(16)}`.slice(-2) };
};

/** Nest passes the context (the logger's name) last, and for `error` a stack before it. */
const split = (optional: unknown[], withStack: boolean): { context?: string; stack?: string; extra: unknown[] } => {
  const rest = [...optional];
  const context = rest.length && typeof rest[rest.length - 1] === 'string' ? (rest.pop() as string) : undefined;
  const stack = withStack && rest.length && typeof rest[rest.length - 1] === 'string' ? (rest.pop() as string) : undefined;
  return { context, stack, extra: rest };
};

/**
 * `LOG_FORMAT=json`: one JSON object per line through pino (`time`, `level`, `service`,
 * `context`, `msg`, and `trace_id`/`span_id` of the active span), for log shippers. Messages go
 * through `redactSecrets` as a last guard: a URL with a password never reaches a log line.
 */
export class JsonLogger implements LoggerService {
  private readonly logger: Logger;
  private enabled: Set<LogLevel>;

  constructor(service: string, levels: readonly LogLevel[], destination?: DestinationStream) {
    this.enabled = new Set(levels);
    this.logger = pino(
      {
        level: 'trace', // filtered here by Nest's levels
        base: { service },
        messageKey: 'msg',
        timestamp: pino.stdTimeFunctions.isoTime,
        formatters: { level: (label) => ({ level: label }) },
        mixin: traceFields,
      },
      destination ?? pino.destination({ dest: 1, sync: true }),
    );
  }

  setLogLevels(levels: LogLevel[]) {
    this.enabled = new Set(levels);
  }

  log(message: unknown, ...optional: unknown[]) {
    this.write('log', message, optional);
  }
  warn(message: unknown, ...optional: unknown[]) {
    this.write('warn', message, optional);
  }
  debug(message: unknown, ...optional: unknown[]) {
    this.write('debug', message, optional);
  }
  verbose(message: unknown, ...optional: unknown[]) {
    this.write('verbose', message, optional);
  }
  fatal(message: unknown, ...optional: unknown[]) {
    this.write('fatal', message, optional);
  }
  error(message: unknown, ...optional: unknown[]) {
    this.write('error', message, optional);
  }

  private write(level: LogLevel, message: unknown, optional: unknown[]) {
    if (!this.enabled.has(level)) return;
    const { context, stack, extra } = split(optional, level === 'error' || level === 'fatal');
    const fields: Record<string, unknown> = {};
    if (context) fields.context = context;
    let text: string;
    if (message instanceof Error) {
      text = message.message;
      fields.err = { type: message.name, message: redactSecrets(message.message), stack: redactSecrets(message.stack ?? '') };
    } else if (typeof message === 'string') {
      text = message;
    } else {
      text = JSON.stringify(message) ?? String(message);
    }
    if (stack) fields.stack = redactSecrets(stack);
    if (extra.length) fields.extra = extra.map((e) => (typeof e === 'string' ? redactSecrets(e) : e));
    this.logger[PINO_LEVEL[level]](fields, redactSecrets(text));
  }
}
