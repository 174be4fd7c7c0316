import { Catch, type RpcExceptionFilter } from '@nestjs/common';
import { throwError } from 'rxjs';
import { connect, type NatsConnection } from '@nats-io/transport-node';
import { jetstreamManager, type StoredMsg } from '@nats-io/jetstream';
import { isolatedTopology, Topology } from '@continuity/contracts';
import { testRunId } from '@continuity/contracts/testing';
import { DeadLetter, readDeadLetter } from './dead-letter.js';
import { ensureTopology, removeTopology } from './topology.js';

export * from './nats-cluster.testing.js';

export const TEST_NATS_URL = process.env.NATS_URL ?? 'nats://127.0.0.1:4222';

/** Connects to the NATS the tests use, or fails saying how to start it (tests never skip). */
export const connectTestNats = async (): Promise<NatsConnection> => {
  try {
    return await connect({ servers: TEST_NATS_URL, timeout: 3_000, noAsyncTraces: true });
  } catch (error) {
    throw new Error(
      `NATS with JetStream is not reachable at ${TEST_NATS_URL} (${(error as Error).message}). Start it with:\n` +
        '  start-stop-daemon --start --oknodo --background --exec /usr/sbin/nats-server -- -a 127.0.0.1 -p 4222 -js -sd /var/lib/nats-server -l /var/log/nats-server.log',
    );
  }
};

/** A topology (streams, subjects) of this test run's own, created now; `remove()` deletes it. */
export const createTestTopology = async (nc: NatsConnection, prefix = 't'): Promise<Topology & { remove(): Promise<void> }> => {
  const topology = isolatedTopology(testRunId(prefix));
  await ensureTopology(nc, topology, { duplicateWindowMs: 120_000 });
  return { ...topology, remove: () => removeTopology(nc, topology) };
};

export interface PollOptions {
  timeoutMs?: number;
  intervalMs?: number;
  /** Said when the condition never held, with the last value seen. */
  what?: string;
}

/** Waits until `condition` returns a truthy value; never a fixed sleep. */
export const pollUntil = async <T>(condition: () => T | Promise<T>, options: PollOptions = {}): Promise<NonNullable<T>> => {
  const deadline = Date.now() + (options.timeoutMs ?? 10_000);
  let last: T | undefined;
  let lastError: unknown;
  while (Date.now() < deadline) {
    try {
      last = await condition();
      if (last) return last as NonNullable<T>;
    } catch (error) {
      lastError = error;
    }
    await new Promise((resolve) => setTimeout(resolve, options.intervalMs ?? 25));
  }
  throw new Error(
    `timed out after ${options.timeoutMs ?? 10_000} ms waiting for ${options.what ?? 'condition'}` +
      ` (last value: ${JSON.stringify(last)}${lastError ? `, last error: ${(lastError as Error).message}` : ''})`,
  );
};

/** Every message stored in a stream, oldest first. */
export const readStream = async (nc: NatsConnection, stream: string): Promise<StoredMsg[]> => {
  const jsm = await jetstreamManager(nc);
  const info = await jsm.streams.info(stream);
  const out: StoredMsg[] = [];
  for (let seq = info.state.first_seq; seq <= info.state.last_seq && info.state.messages > 0; seq++) {
    const msg = await jsm.streams.getMessage(stream, { seq }).catch(() => null);
    if (msg) out.push(msg);
  }
  return out;
};

export const readDeadLetters = async (nc: NatsConnection, topology: Topology): Promise<DeadLetter[]> =>
  (await readStream(nc, topology.deadLetterStream)).map(readDeadLetter);

export const streamMessageCount = async (nc: NatsConnection, stream: string): Promise<number> =>
  (await (await jetstreamManager(nc)).streams.info(stream)).state.messages;

/** As the services' `HttpErrorFilter` does: a handler's error reaches the transport as thrown, not as Nest's "Internal server error". */
@Catch()
export class RethrowEventErrors implements RpcExceptionFilter<unknown> {
  catch(exception: unknown) {
    return throwError(() => exception);
  }
}
