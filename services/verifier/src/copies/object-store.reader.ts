import { Readable } from 'node:stream';
import type { ReadableStream as WebReadableStream } from 'node:stream/web';
import type { NatsConnection } from '@nats-io/transport-node';
import { connectNats, type NatsAuthOptions } from '@continuity/messaging';
import { Objm, type ObjectStore } from '@nats-io/obj';
import { redactSecrets } from '@continuity/runtime';
import { abortError, CopyReader, CopyUnreadableError, ReadOptions } from './copy-reader.js';

/** `nats-object://<bucket>/<name>` → bucket and object name (the name may hold slashes). */
export const parseObjectUri = (uri: string): { bucket: string; name: string } => {
  const match = /^nats-object:\/\/([^/]+)\/(.+)$/i.exec(uri);
  if (!match) throw new CopyUnreadableError(`${uri} is not a nats-object://<bucket>/<name> URI`);
  return { bucket: match[1]!, name: match[2]! };
};

/**
 * Copies in JetStream object stores (one bucket per backup location). Buckets are opened, never
 * created: a missing bucket is a missing copy. Buckets on another NATS (another site) are reached
 * through the `objectStores` map of the configuration (bucket → servers), connected on first use.
 */
export class ObjectStoreCopyReader implements CopyReader {
  readonly scheme = 'nats-object';
  private readonly remotes = new Map<string, Promise<NatsConnection>>();

  constructor(
    private readonly nc: NatsConnection,
    private readonly serversOf: (bucket: string) => string | undefined = () => undefined,
    /** Credentials on another site's NATS: this service's own identity there (`natsAuthOf`). */
    private readonly auth: NatsAuthOptions = {},
  ) {}

  private connectionFor(bucket: string): Promise<NatsConnection> {
    const servers = this.serversOf(bucket);
    if (!servers) return Promise.resolve(this.nc);
    let remote = this.remotes.get(servers);
    if (!remote) {
      remote = connectNats(servers, this.auth, { name: 'verifier-object-store', timeout: 5_000, maxReconnectAttempts: -1 });
      remote.catch(() => this.remotes.delete(servers));
      this.remotes.set(servers, remote);
    }
    return remote.catch((error: Error) => {
      throw new CopyUnreadableError(`NATS at ${redactSecrets(servers)} (holding bucket ${bucket}) is not reachable: ${error.message}`);
    });
  }

  private async store(bucket: string): Promise<ObjectStore> {
    const nc = await this.connectionFor(bucket);
    try {
      return await new Objm(nc).open(bucket);
    } catch (error) {
      const message = (error as Error).message;
      throw new CopyUnreadableError(/not found/i.test(message) ? `bucket ${bucket} does not exist` : `cannot open bucket ${bucket}: ${message}`, { cause: error });
    }
  }

  private async get(uri: string) {
    const { bucket, name } = parseObjectUri(uri);
    const os = await this.store(bucket);
    const result = await os.get(name).catch((error: Error) => {
      throw new CopyUnreadableError(`cannot read ${name} from bucket ${bucket}: ${error.message}`, { cause: error });
    });
    if (!result) throw new CopyUnreadableError(`${name} is not in bucket ${bucket} (deleted, or never stored)`);
    return { result, bucket, name };
  }

  async scan(uri: string, onChunk: (chunk: Buffer) => void, { signal, limitBytes }: ReadOptions = {}): Promise<void> {
    const { result, bucket, name } = await this.get(uri);
    const reader = (result.data as unknown as WebReadableStream<Uint8Array>).getReader();
    const limit = limitBytes === undefined ? Number.POSITIVE_INFINITY : limitBytes + 1;
    let bytes = 0;
    try {
      for (;;) {
        if (signal?.aborted) throw abortError(signal);
        const { done, value } = await reader.read();
        if (done) break;
        if (!value.length) continue;
        // Never past the declared size + 1, as for files: one byte more tells a longer copy.
        const take = Math.min(value.length, limit - bytes);
        onChunk(Buffer.from(value.buffer, value.byteOffset, take));
        bytes += take;
        if (bytes >= limit) {
          await reader.cancel().catch(() => undefined);
          return;
        }
      }
      // The library also checks the object's digest (from its metadata) at the end.
      const error = await result.error;
      if (error) throw error;
    } catch (error) {
      await reader.cancel().catch(() => undefined);
      if ((error as Error).name === 'AbortError') throw error;
      throw new CopyUnreadableError(`reading ${name} from bucket ${bucket} failed: ${(error as Error).message.split('\n').join(' ')}`, { cause: error });
    }
  }

  async open(uri: string, { signal }: ReadOptions = {}): Promise<Readable> {
    const { result } = await this.get(uri);
    const stream = Readable.fromWeb(result.data as unknown as WebReadableStream<Uint8Array>, { signal });
    result.error.then(
      (error) => error && stream.destroy(error),
      (error: Error) => stream.destroy(error),
    );
    return stream;
  }

  async readSmall(uri: string, maxBytes: number): Promise<Buffer> {
    const { bucket, name } = parseObjectUri(uri);
    const os = await this.store(bucket);
    const info = await os.info(name);
    if (!info || info.deleted) throw new CopyUnreadableError(`${name} is not in bucket ${bucket}`);
    if (info.size > maxBytes) throw new CopyUnreadableError(`${name} in bucket ${bucket} is ${info.size} bytes, more than the ${maxBytes} bytes allowed`);
    const blob = await os.getBlob(name).catch((error: Error) => {
      throw new CopyUnreadableError(`cannot read ${name} from bucket ${bucket}: ${error.message}`, { cause: error });
    });
    if (!blob) throw new CopyUnreadableError(`${name} is not in bucket ${bucket}`);
    return Buffer.from(blob);
  }

  async close() {
    for (const remote of this.remotes.values()) await (await remote.catch(() => null))?.drain().catch(() => undefined);
    this.remotes.clear();
  }
}
