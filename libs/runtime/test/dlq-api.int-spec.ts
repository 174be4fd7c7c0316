import { Controller, INestApplication, INestMicroservice, Module } from '@nestjs/common';
import { NestFactory } from '@nestjs/core';
import { Test } from '@nestjs/testing';
import { Payload } from '@nestjs/microservices';
import { connect, type NatsConnection } from '@nats-io/transport-node';
import { jetstream } from '@nats-io/jetstream';
import { ContinuityEvent, ContinuityPublisher, replayStreamOf, Topology } from '@continuity/contracts';
import { aBackupCreatedData } from '@continuity/contracts/testing';
import { JetStreamTransport, OnEvent } from '@continuity/messaging';
import { connectTestNats, createTestTopology, pollUntil, RethrowEventErrors, streamMessageCount, TEST_NATS_URL } from '@continuity/messaging/testing';
import type { Telemetry } from '@continuity/telemetry';
import { baseEnvSchema, loadConfig } from '../src/config.js';
import { HttpErrorFilter } from '../src/http/error.filter.js';
import { RuntimeModule } from '../src/runtime.module.js';
import { runDlqCli } from '../src/dlq/dlq.cli.js';

const ALICE = 'alice-operator-token-0123456789abcdef';
const broken = new Set<string>();
const handled = new Map<string, number>();

@Controller()
class Listener {
  @OnEvent('BackupCreated')
  onBackupCreated(@Payload() event: ContinuityEvent<'BackupCreated'>) {
    if (broken.has(event.data.backupId)) throw new Error('handler bug');
    handled.set(event.id, (handled.get(event.id) ?? 0) + 1);
  }
}
@Module({ controllers: [Listener] })
class ListenerModule {}

describe('/dlq routes (real NATS)', () => {
  let nc: NatsConnection;
  let topology: Topology & { remove(): Promise<void> };
  let consumer: INestMicroservice;
  const apis: { app: INestApplication; nats: NatsConnection; base: string }[] = [];

  /** The runtime module as every service mounts it, with these operator tokens. */
  const startApi = async (tokens: string) => {
    const config = loadConfig(baseEnvSchema(0), { CONTINUITY_NAMESPACE: topology.namespace, CONTINUITY_TOKENS: tokens });
    const nats = await connect({ servers: TEST_NATS_URL, noAsyncTraces: true });
    const telemetry = { shutdown: async () => undefined } as unknown as Telemetry;
    @Module({ imports: [RuntimeModule.forRoot({ serviceName: 'dlqapi', config, telemetry, nats })] })
    class Root {}
    const app = await NestFactory.create(Root, { logger: false });
    app.useGlobalFilters(new HttpErrorFilter());
    await app.listen(0, '127.0.0.1');
    const api = { app, nats, base: `http://127.0.0.1:${(app.getHttpServer().address() as { port: number }).port}` };
    apis.push(api);
    return api;
  };

  let api: Awaited<ReturnType<typeof startApi>>;
  let closed: Awaited<ReturnType<typeof startApi>>;
  let sequence: number;
  let eventId: string;

  const call = async (target: { base: string }, path: string, options: { method?: string; token?: string; body?: unknown } = {}) => {
    const res = await fetch(target.base + path, {
      method: options.method ?? 'GET',
      headers: { ...(options.token ? { authorization: `Bearer ${options.token}` } : {}), ...(options.body !== undefined ? { 'content-type': 'application/json' } : {}) },
      body: options.body === undefined ? undefined : JSON.stringify(options.body),
    });
    return { status: res.status, body: (await res.json()) as any };
  };

  beforeAll(async () => {
    nc = await connectTestNats();
    topology = await createTestTopology(nc, 'dlqapi');
    const moduleRef = await Test.createTestingModule({ imports: [ListenerModule] }).compile();
    consumer = moduleRef.createNestMicroservice({
      strategy: new JetStreamTransport({ serviceName: 'api', servers: TEST_NATS_URL, topology, retry: { maxDeliver: 1, initialDelayMs: 20, maxDelayMs: 50 }, ackWaitMs: 2_000 }),
      logger: false,
    });
    consumer.useGlobalFilters(new RethrowEventErrors());
    await consumer.listen();
    api = await startApi(`alice:operator:${ALICE},victor:viewer:${'v'.repeat(32)}`);
    closed = await startApi('');

    const data = aBackupCreatedData();
    broken.add(data.backupId);
    eventId = (await new ContinuityPublisher(jetstream(nc), { source: 'test', topology }).publish('BackupCreated', { resource: 'orders-db', data })).event.id;
    sequence = (
      await pollUntil(async () => (await call(api, `/dlq?id=${eventId}`, { token: ALICE })).body.items?.[0], { what: 'the dead letter over HTTP' })
    ).sequence;
  });

  afterAll(async () => {
    for (const { app } of apis) await app.close(); // drains its NATS connection
    await consumer?.close();
    await topology?.remove();
    await nc?.close();
  });

  it('refuses every route without an operator token, with a wrong one, and when no tokens are configured', async () => {
    expect(await call(api, '/dlq')).toMatchObject({ status: 401, body: { code: 'AUTH.TOKEN_MISSING' } });
    expect(await call(api, `/dlq/${sequence}`, { token: 'wrong-token-but-long-enough' })).toMatchObject({ status: 401, body: { code: 'AUTH.TOKEN_UNKNOWN' } });
    expect(await call(api, `/dlq/${sequence}/replay`, { method: 'POST', token: ALICE.slice(0, -1) })).toMatchObject({ status: 401 });
    // Dead letters hold event bodies: a viewer may neither read nor replay them.
    expect(await call(api, '/dlq', { token: 'v'.repeat(32) })).toMatchObject({ status: 403, body: { code: 'AUTH.ROLE_FORBIDDEN' } });
    expect(await call(api, `/dlq/${sequence}/replay`, { method: 'POST', token: 'v'.repeat(32) })).toMatchObject({ status: 403 });
    // Configured with no tokens: closed, even to a token that works elsewhere.
    expect(await call(closed, '/dlq', { token: ALICE })).toMatchObject({ status: 401, body: { code: 'AUTH.NO_TOKENS' } });
    expect(await call(closed, `/dlq/${sequence}/replay`, { method: 'POST', token: ALICE })).toMatchObject({ status: 401 });
    // Nothing was replayed by any of these.
    expect(await streamMessageCount(nc, replayStreamOf(topology))).toBe(0);
  });

  it('refuses a sequence that is not a dead letter, and crafted input', async () => {
    const crafted = await jetstream(nc).publish(`${topology.namespace}.dlq.api_BackupCreated`, JSON.stringify({ id: eventId }));
    expect(await call(api, `/dlq/${crafted.seq}/replay`, { method: 'POST', token: ALICE, body: {} })).toMatchObject({ status: 404, body: { code: 'DLQ.NOT_FOUND' } });
    expect(await call(api, '/dlq/999999/replay', { method: 'POST', token: ALICE, body: {} })).toMatchObject({ status: 404 });
    for (const seq of ['abc', '1e3', '-1', '0', '1%3B2', '9999999999999999999']) {
      expect({ seq, ...(await call(api, `/dlq/${seq}/replay`, { method: 'POST', token: ALICE, body: {} })) }).toMatchObject({ seq, status: 400 });
    }
    // The operator is the token's name: a body cannot claim to be someone else.
    expect(await call(api, `/dlq/${sequence}/replay`, { method: 'POST', token: ALICE, body: { by: 'mallory' } })).toMatchObject({ status: 400 });
    expect(await call(api, `/dlq/${sequence}/replay`, { method: 'POST', token: ALICE, body: { force: 'yes' } })).toMatchObject({ status: 400 });
    expect(await call(api, '/dlq?consumer=a.%3E', { token: ALICE })).toMatchObject({ status: 400 });
    expect(await call(api, '/dlq?since=yesterday', { token: ALICE })).toMatchObject({ status: 400 });
    expect(await streamMessageCount(nc, replayStreamOf(topology))).toBe(0);
  });

  it('lists, shows and replays for an operator, recording the replay under their name', async () => {
    const listed = await call(api, '/dlq?consumer=api_BackupCreated', { token: ALICE });
    expect(listed.status).toBe(200);
    expect(listed.body.items).toEqual([expect.objectContaining({ sequence, consumer: 'api_BackupCreated', reason: 'handler failed on all 1 deliveries: handler bug', replayed: null })]);
    const shown = await call(api, `/dlq/${sequence}`, { token: ALICE });
    expect(shown).toMatchObject({ status: 200, body: { sequence, headers: { 'Nats-Msg-Id': eventId } } });
    expect(JSON.parse(shown.body.body).id).toBe(eventId);

    broken.clear();
    const replayed = await call(api, `/dlq/${sequence}/replay`, { method: 'POST', token: ALICE });
    expect(replayed).toMatchObject({
      status: 200,
      body: { deadLetterSequence: sequence, consumer: 'api_BackupCreated', recorded: { type: 'DeadLetterReplayed', source: 'dlqapi', data: { replayedBy: 'alice', forced: false } } },
    });
    await pollUntil(() => handled.get(eventId) === 1, { what: 'the replayed event to be handled' });
    expect(await call(api, `/dlq/${sequence}/replay`, { method: 'POST', token: ALICE })).toMatchObject({ status: 409, body: { code: 'DLQ.ALREADY_REPLAYED', replayedBy: 'alice' } });
    expect(await call(api, `/dlq/${sequence}/replay`, { method: 'POST', token: ALICE, body: { force: true } })).toMatchObject({
      status: 200,
      body: { recorded: { data: { forced: true } } },
    });
    await pollUntil(() => handled.get(eventId) === 2, { what: 'the forced replay to be delivered' });
  });

  it('continuity-dlq lists and replays with clear output and exit codes', async () => {
    const data = aBackupCreatedData();
    broken.add(data.backupId);
    const { event } = await new ContinuityPublisher(jetstream(nc), { source: 'test', topology }).publish('BackupCreated', { resource: 'orders-db', data });
    const cli = async (...argv: string[]) => {
      const lines: string[] = [];
      const code = await runDlqCli(argv, { env: { NATS_URL: TEST_NATS_URL, CONTINUITY_NAMESPACE: topology.namespace }, out: (l) => lines.push(l), err: (l) => lines.push(l) });
      return { code, output: lines.join('\n') };
    };
    const listed = await pollUntil(async () => {
      const result = await cli('list', '--consumer', 'api_BackupCreated', '--id', event.id);
      return result.output.includes(event.id) && result;
    }, { what: 'the dead letter in `list`' });
    expect(listed.code).toBe(0);
    expect(listed.output).toContain('not replayed');
    expect(listed.output).toContain('handler failed on all 1 deliveries: handler bug');

    broken.clear();
    const replayed = await cli('replay', '--id', event.id, '--by', 'carol');
    expect(replayed).toEqual({ code: 0, output: expect.stringMatching(/^replayed \d+ to api_BackupCreated \(event [0-9a-f-]{36}\); recorded as DeadLetterReplayed [0-9a-f-]{36}$/) });
    await pollUntil(() => handled.get(event.id) === 1, { what: 'the replayed event to be handled' });
    const sequence = /^replayed (\d+)/.exec(replayed.output)![1]!;
    expect(await cli('list', '--id', event.id)).toMatchObject({ code: 0, output: expect.stringContaining('replayed by carol') });
    expect(await cli('replay', sequence)).toEqual({ code: 1, output: expect.stringContaining(`dead letter ${sequence} was already replayed by carol`) });
    // With a filter, what was replayed already is skipped rather than refused.
    expect(await cli('replay', '--id', event.id)).toEqual({ code: 0, output: 'nothing to replay' });
    expect((await cli('replay')).code).toBe(2);
    expect((await cli('list', '--since', 'yesterday')).code).toBe(2);
    expect((await cli('show', '12abc')).code).toBe(2);
    expect(handled.get(event.id)).toBe(1);
  });
});
