import { diag, DiagConsoleLogger, DiagLogLevel } from '@opentelemetry/api';
import { PrometheusExporter } from '@opentelemetry/exporter-prometheus';
import { OTLPTraceExporter } from '@opentelemetry/exporter-trace-otlp-http';
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
}

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
    instrumentations: [],
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
