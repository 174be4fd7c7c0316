import { createServer, type Server } from 'node:http';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { gunzipSync } from 'node:zlib';
import type { NatsConnection } from '@nats-io/transport-node';
import { connectTestNats, createTestTopology, pollUntil } from '@continuity/messaging/testing';
import { bearer, createTestDatabase, freePort, ServiceProcess } from '@continuity/runtime/testing';
import { METRICS } from '@continuity/telemetry';
import { startBackupVerifierAudit } from './harness.js';

/** One span as an OTLP/HTTP JSON export carries it, with the service that sent it. */
interface ExportedSpan {
  service: string;
  traceId: string;
  spanId: string;
  parentSpanId?: string;
  name: string;
  attributes: Record<string, unknown>;
  links: { traceId: string; spanId: string }[];
}

type OtlpValue = { stringValue?: string; intValue?: string | number; boolValue?: boolean; doubleValue?: number };
const valueOf = (v: OtlpValue) => v.stringValue ?? v.intValue ?? v.boolValue ?? v.doubleValue;
const attributesOf = (list: { key: string; value: OtlpValue }[] = []) => Object.fromEntries(list.map((a) => [a.key, valueOf(a.value)]));

/**
 * A tiny OTLP/HTTP receiver (JSON encoding, what `@opentelemetry/exporter-trace-otlp-http` sends):
 * it keeps every span posted to `/v1/traces`, as a collector would hand them to a backend.
 */
const startOtlpReceiver = async () => {
  const spans: ExportedSpan[] = [];
  const server: Server = createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      if (req.method !== 'POST' || req.url !== '/v1/traces') {
        res.writeHead(404).end();
        return;
      }
      let body = Buffer.concat(chunks);
      if (req.headers['content-encoding'] === 'gzip') body = gunzipSync(body);
      const parsed = JSON.parse(body.toString('utf8')) as { resourceSpans: any[] };
      for (const rs of parsed.resourceSpans ?? []) {
        const service = String(attributesOf(rs.resource?.attributes)['service.name']);
        for (const ss of rs.scopeSpans ?? []) {
          for (const s of ss.spans ?? []) {
            spans.push({
              service,
              traceId: s.traceId,
              spanId: s.spanId,
              parentSpanId: s.parentSpanId || undefined,
              name: s.name,
              attributes: attributesOf(s.attributes),
              links: (s.links ?? []).map((l: any) => ({ traceId: l.traceId, spanId: l.spanId })),
            });
          }
        }
      }
      res.writeHead(200, { 'content-type': 'application/json' }).end('{}');
    });
  });
  const port = await freePort();
  await new Promise<void>((resolve) => server.listen(port, '127.0.0.1', resolve));
  return { spans, url: `http://127.0.0.1:${port}`, close: () => new Promise<void>((resolve) => server.close(() => resolve())) };
};

/** The JSON log lines a process printed (`LOG_FORMAT=json`). */
const jsonLines = (output: string) =>
  output
    .split('\n')
    .filter((line) => line.startsWith('{'))
    .map((line) => JSON.parse(line) as Record<string, any>);

/**
 * Item 4 of issue 14: one backup is one trace, end to end, across three processes. The backup run
 * is the root; the verifier's verification and the audit's ledger appends continue it through the
 * events' NATS headers; every log line written inside carries its trace id.
 */
describe('one trace per backup: backup → verifier → audit as processes, exported over OTLP', () => {
  let nc: NatsConnection;
  let topology: Awaited<ReturnType<typeof createTestTopology>>;
  let db: Awaited<ReturnType<typeof createTestDatabase>>;
  let receiver: Awaited<ReturnType<typeof startOtlpReceiver>>;
  const processes: ServiceProcess[] = [];
  const dir = mkdtempSync(join(tmpdir(), 'continuity-trace-'));

  beforeAll(async () => {
    receiver = await startOtlpReceiver();
    nc = await connectTestNats();
    topology = await createTestTopology(nc, 'trace');
    db = await createTestDatabase('trace');
    mkdirSync(join(dir, 'src'), { recursive: true });
    writeFileSync(join(dir, 'src', 'a.txt'), 'alpha');
    const config = join(dir, 'continuity.yaml');
    writeFileSync(
      config,
      `resources:
  docs: { kind: directory, site: site-a, path: ${join(dir, 'src')} }
locations:
  disk-a: { kind: filesystem, site: site-a, medium: disk, path: ${join(dir, 'a')} }
  nas-a: { kind: filesystem, site: site-a, medium: nas, path: ${join(dir, 'b')} }
  disk-b: { kind: filesystem, site: site-b, medium: disk, path: ${join(dir, 'c')} }
policies:
  docs-hourly: { resource: docs, schedule: every 1h, copies: [disk-a, nas-a, disk-b], retention: { keepLast: 5 } }
`,
    );
    const env = {
      CONTINUITY_NAMESPACE: topology.namespace,
      DATABASE_URL: db.url,
      CONTINUITY_CONFIG: config,
      LOG_FORMAT: 'json',
      OTEL_EXPORTER_OTLP_ENDPOINT: receiver.url,
      OTEL_BSP_SCHEDULE_DELAY: '200',
    };
    await startBackupVerifierAudit(processes, env, { AUDIT_SIGNING_KEY_FILE: join(dir, 'audit.pem'), AUDIT_SIGN_INTERVAL_MS: '250' });
  }, 90_000);

  afterAll(async () => {
    await Promise.all(processes.map((p) => p.stop('SIGTERM')));
    await receiver?.close();
    await topology?.remove();
    await db?.drop();
    await nc?.close();
    rmSync(dir, { recursive: true, force: true });
  });

  it('holds the backup run, the verification and the ledger appends in one trace, and the logs carry its id', async () => {
    const [backup, verifier, audit] = processes;
    const started = await fetch(`http://127.0.0.1:${backup!.port}/backups`, {
      method: 'POST',
      headers: { 'content-type': 'application/json', ...bearer('operator') },
      body: JSON.stringify({ resource: 'docs' }),
    });
    expect(started.status).toBe(202);
    const { backupId } = (await started.json()) as { backupId: string };

    const run = await pollUntil(
      () => receiver.spans.find((s) => s.name === 'backup run' && s.attributes['continuity.backup.id'] === backupId),
      { timeoutMs: 30_000, what: 'the backup run span' },
    );
    expect(run.service).toBe('backup');
    expect(run.parentSpanId).toBeUndefined(); // the root of its trace
    const inTrace = () => receiver.spans.filter((s) => s.traceId === run.traceId);
    // The verdict's ledger append is the last step of the chain; each process exports its spans in
    // its own batches, so the verifier's may reach the receiver after the audit's.
    await pollUntil(
      () => {
        const spans = inTrace();
        return (
          spans.some((s) => s.service === 'audit' && s.name === 'ledger append' && s.attributes['continuity.event.type'] === 'IntegrityVerified') &&
          spans.some((s) => s.service === 'verifier' && s.name === 'process BackupCreated') &&
          spans.filter((s) => s.service === 'verifier' && s.name === 'verify copy').length >= 3
        );
      },
      { timeoutMs: 60_000, what: 'the ledger append of the verdict and the verifier’s spans in the backup’s trace' },
    );
    const trace = inTrace();
    const byId = new Map(trace.map((s) => [s.spanId, s]));
    const ancestors = (span: ExportedSpan) => {
      const chain: ExportedSpan[] = [];
      for (let s = span.parentSpanId ? byId.get(span.parentSpanId) : undefined; s; s = s.parentSpanId ? byId.get(s.parentSpanId) : undefined) chain.push(s);
      return chain;
    };
    const children = trace.filter((s) => s.parentSpanId === run.spanId).map((s) => s.name);
    expect(children).toEqual(expect.arrayContaining(['backup source directory', 'backup outbox publish']));
    expect(children.filter((n) => n === 'backup copy')).toHaveLength(3);
    // The run was asked for over HTTP: it links to the request's span rather than hiding under it.
    const request = receiver.spans.find((s) => s.service === 'backup' && s.spanId === run.links[0]?.spanId);
    expect(request?.attributes['http.request.method'] ?? request?.attributes['http.method']).toBe('POST');
    // PostgreSQL instrumentation: the catalogue's queries inside the run are spans of the trace.
    expect(trace.some((s) => s.service === 'backup' && (s.attributes['db.system'] === 'postgresql' || s.attributes['db.system.name'] === 'postgresql'))).toBe(true);

    const verification = trace.find((s) => s.service === 'verifier' && s.name === 'process BackupCreated');
    expect(verification).toBeDefined();
    expect(ancestors(verification!).map((s) => s.name)).toEqual(expect.arrayContaining(['publish BackupCreated', 'backup outbox publish', 'backup run']));
    expect(trace.filter((s) => s.service === 'verifier' && s.name === 'verify copy')).toHaveLength(3);
    const appends = trace.filter((s) => s.service === 'audit' && s.name === 'ledger append');
    expect(appends.map((s) => s.attributes['continuity.event.type']).sort()).toEqual(['BackupCreated', 'IntegrityVerified']);
    for (const append of appends) expect(ancestors(append).at(-1)?.spanId).toBe(run.spanId);

    // Every line logged inside the run carries its trace id, in each process.
    const created = jsonLines(backup!.output()).find((l) => typeof l.msg === 'string' && l.msg.includes(`backup ${backupId} of docs created`));
    expect(created).toMatchObject({ level: 'info', service: 'backup', trace_id: run.traceId });
    expect(jsonLines(verifier!.output()).some((l) => l.trace_id === run.traceId)).toBe(true);
    const auditLines = jsonLines(audit!.output());
    expect(auditLines.length).toBeGreaterThan(0);
    expect(auditLines.every((l) => typeof l.time === 'string' && typeof l.level === 'string' && typeof l.msg === 'string')).toBe(true);
  }, 120_000);

  it('serves the estate metrics of the list, computed from what just happened', async () => {
    const [, verifier, audit] = processes;
    const scrape = async (proc: ServiceProcess) => (await fetch(`http://127.0.0.1:${proc.port}/metrics`)).text();
    const series = (text: string, name: string) => text.split('\n').filter((line) => line.startsWith(`${name}{`));
    const auditText = await pollUntil(async () => {
      const text = await scrape(audit!);
      return series(text, METRICS.ledgerSignedHeadAge.name).length ? text : null;
    }, { timeoutMs: 30_000, what: 'a signed tree head in the audit metrics' });
    for (const metric of [
      METRICS.recoveryPointAge,
      METRICS.rpoExposure,
      METRICS.rpoTarget,
      METRICS.lastBackupAge,
      METRICS.restoreTestDuration,
      METRICS.backups,
      METRICS.verdicts,
      METRICS.copiesVerified,
      METRICS.threeTwoOne,
      METRICS.failovers,
      METRICS.downtime,
      METRICS.ledgerEntries,
      METRICS.ledgerSignedSize,
    ]) {
      expect({ metric: metric.name, served: series(auditText, metric.name).length > 0 }).toEqual({ metric: metric.name, served: true });
    }
    expect(series(auditText, METRICS.threeTwoOne.name)[0]).toMatch(/resource="docs".* 1$/);
    expect(series(auditText, METRICS.copiesVerified.name)[0]).toMatch(/resource="docs".* 3$/);
    expect(series(auditText, METRICS.backups.name).find((l) => l.includes('outcome="created"'))).toMatch(/ 1$/);
    const verifierText = await scrape(verifier!);
    expect(series(verifierText, METRICS.copyChecks.name).filter((l) => l.includes('outcome="passed"'))).toHaveLength(3);
    expect(series(verifierText, METRICS.scrubCoverage.name)[0]).toMatch(/resource="docs".* 1$/);
    expect(series(verifierText, METRICS.scrubOverdue.name)[0]).toMatch(/resource="docs".* 0$/);
  }, 60_000);
});
