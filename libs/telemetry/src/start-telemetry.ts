import { diag, DiagConsoleLogger, DiagLogLevel } from '@opentelemetry/api';
import { PrometheusExporter } from '@opentelemetry/exporter-prometheus';
import { OTLPTraceExporter } from '@opentelemetry/exporter-trace-otlp-http';
import type { Instrumentation } from '@opentelemetry/instrumentation';
import { ExpressInstrumentation, ExpressLayerType } from '@opentelemetry/instrumentation-express';
import { HttpInstrumentation } from '@opentelemetry/instrumentation-http';
import { PgInstrumentation } from '@opentelemetry/instrumentation-pg';
import { resourceFromAttributes } from '@opentelemetry/resources';
import { NodeSDK } from '@opentelemetry/sdk-node';
import { BatchSpanProcessor, NoopSpanProcessor, type SpanProcessor } from '@opentelemetry/sdk-trace-base';
import { ATTR_SERVICE_NAME, ATTR_SERVICE_VERSION } from '@opentelemetry/semantic-conventions';
import type { IncomingMessage, ServerResponse } from 'node:http';

export interface TelemetryOptions {
  serviceName: string;
  serviceVersion?: string;
  /** Replaces the exporters chosen from the environment (tests pass an in-memory exporter). */
  spanProcessors?: SpanProcessor[];
  env?: NodeJS.ProcessEnv;
  /** Replaces the default instrumentations (HTTP, Express, PostgreSQL); `[]` for none. */
  instrumentations?: Instrumentation[];
}

/** Probes and scrapes, every few seconds, would bury the traces that matter. */
const UNTRACED_PATHS = /^\/(metrics|health)(\/|\?|$)/;

/**
 * OpenTelemetry's own instrumentations: incoming and outgoing HTTP, Express routes (Nest's HTTP
 * adapter), and every PostgreSQL query made inside a traced operation (a query with no parent span,
 * such as a poll loop's, starts no trace of its own). Not `instrumentation-nestjs-core`: its releases
 * for this SDK support `@nestjs/core` below 12, and it would silently patch nothing here. Nest's
 * event handlers get their spans from our JetStream transport (`process <type>`). Express's
 * middleware layers (Nest's hook wrapper, the JSON body parser, the JSON-only check) get no span
 * of their own: a handful per request that say nothing an operator follows, each costing every
 * read; the route still names the request's span (`http.route`) and its handler keeps its span.
 */
export const defaultInstrumentations = (): Instrumentation[] => [
  new HttpInstrumentation({ ignoreIncomingRequestHook: (req) => UNTRACED_PATHS.test(req.url ?? '') }),
  new ExpressInstrumentation({ ignoreLayersType: [ExpressLayerType.MIDDLEWARE] }),
  new PgInstrumentation({ requireParentSpan: true }),
];

export interface Telemetry {
  /** Writes the Prometheus text exposition of every metric (for `GET /metrics`). */
  serveMetrics(req: IncomingMessage, res: ServerResponse): void;
  /** Flushes pending spans and stops; call on shutdown. */
  shutdown(): Promise<void>;
  /** True when spans are exported over OTLP. */
  exporting: boolean;
}

let current: Telemetry | undefined;

/**
 * Starts OpenTelemetry; call it first in `main.ts`, before Nest is created. Traces go over OTLP/HTTP
 * when `OTEL_EXPORTER_OTLP_ENDPOINT` (or `…_TRACES_ENDPOINT`) is set; otherwise spans are still
 * created, so trace ids flow through NATS headers and logs, but not exported. Metrics are served
 * in Prometheus format by `serveMetrics`. W3C trace context is the propagator.
 *
 * The instrumentations patch modules as they are loaded: a service calls this before it loads
 * `pg`, `express` or `@nestjs/core` (each service's `instrument.ts`, imported first by `main.ts`).
 */
export const startTelemetry = (options: TelemetryOptions): Telemetry => {
  if (current) return current;
  const env = options.env ?? process.env;
  if (env.OTEL_LOG_LEVEL === 'debug') diag.setLogger(new DiagConsoleLogger(), DiagLogLevel.DEBUG);
  const exporting = !!(env.OTEL_EXPORTER_OTLP_ENDPOINT || env.OTEL_EXPORTER_OTLP_TRACES_ENDPOINT);
  const spanProcessors =
    options.spanProcessors ?? (exporting ? [new BatchSpanProcessor(new OTLPTraceExporter())] : [new NoopSpanProcessor()]);
  // The exporter serves through our own HTTP server (`/metrics`), not a second port.
  const prometheus = new PrometheusExporter({ preventServerStart: true });
  const sdk = new NodeSDK({
    resource: resourceFromAttributes({
      [ATTR_SERVICE_NAME]: options.serviceName,
      [ATTR_SERVICE_VERSION]: options.serviceVersion ?? '0.1.0',
    }),
    spanProcessors,
    metricReaders: [prometheus],
    logRecordProcessors: [],
    instrumentations: options.instrumentations ?? defaultInstrumentations(),
  });
  sdk.start();
  current = {
    exporting,
    serveMetrics: (req, res) => prometheus.getMetricsRequestHandler(req, res),
    shutdown: async () => {
      current = undefined;
      await sdk.shutdown();
    },
  };
  return current;
};

/** The running telemetry, if `startTelemetry` was called. */
export const runningTelemetry = (): Telemetry | undefined => current;
