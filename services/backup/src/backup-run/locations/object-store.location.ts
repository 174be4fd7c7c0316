import { PassThrough, Readable } from 'node:stream';
import type { ReadableStream as WebReadableStream } from 'node:stream/web';
import type { NatsConnection } from '@nats-io/transport-node';
import type { ObjectStore } from '@nats-io/obj';
import { DEFAULT_REPLICAS, ensureObjectStore } from '@continuity/messaging/nats';
import { artifactPath, ArtifactKey, Digest, manifestPath } from '@continuity/artifacts';
import { BackupLocation, CleanupResult, CopyWriter, LocationError } from './location.js';

/** `SHA-256=<base64url>` as the object store records it. */
export const objectDigestOf = (sha256Hex: string) => `SHA-256=${Buffer.from(sha256Hex, 'hex').toString('base64url')}=`;
const sameDigest = (recorded: string, sha256Hex: string) =>
  recorded.replace(/=+$/, '') === objectDigestOf(sha256Hex).replace(/=+$/, '');

/**
 * A JetStream object store bucket (one per location). An object becomes visible only when its
 * metadata message is stored after the last chunk, so a failed put never looks complete (the
 * library purges the chunks it stored). After a put the location reads the object's info back
 * and compares size and SHA-256 with what was sent.
 */
export class ObjectStoreLocation implements BackupLocation {
  readonly kind = 'object-store' as const;
  private store: Promise<ObjectStore> | null = null;

  constructor(
    readonly name: string,
    readonly site: string,
    readonly medium: string,
    readonly bucket: string,
    private readonly nc: NatsConnection,
    private readonly options: { replicas?: number; ownsConnection?: boolean } = {},
  ) {}

  private open(): Promise<ObjectStore> {
    this.store ??= ensureObjectStore(this.nc, this.bucket, { replicas: this.options.replicas ?? DEFAULT_REPLICAS }).catch((error: Error) => {
      this.store = null;
      throw new LocationError(this.name, `cannot open object store bucket ${this.bucket}: ${error.message}`, { cause: error });
    });
    return this.store;
  }

  uriOf(key: ArtifactKey) {
    return `nats-object://${this.bucket}/${artifactPath(key)}`;
  }
  manifestUriOf(key: ArtifactKey) {
    return `nats-object://${this.bucket}/${manifestPath(key)}`;
  }

  async begin(key: ArtifactKey): Promise<CopyWriter> {
    const os = await this.open();
    const name = artifactPath(key);
    const location = this.name;
    const pass = new PassThrough({ highWaterMark: 1 << 20 });
    let failure: Error | null = null;
    let stored = false;
    let manifestStored = false;
    const put = os
      .put(
        { name, description: `continuity backup ${key.backupId} of ${key.resource}`, options: { max_chunk_size: 1 << 20 } },
        Readable.toWeb(pass) as unknown as ReadableStream<Uint8Array>,
        { timeout: 30_000 },
      )
      .then(
        (info) => {
          stored = true;
          return info;
        },
        (error: Error) => {
          failure ??= new LocationError(location, `put ${name} into bucket ${this.bucket} failed: ${error.message}`, { cause: error });
          pass.destroy();
          throw failure;
        },
      );
    put.catch(() => undefined); // observed through `failure`/`finish`; never an unhandled rejection
    const drained = () =>
      new Promise<void>((resolve, reject) => {
        const done = () => {
          pass.off('drain', done);
          clearInterval(poll);
          if (failure) reject(failure);
          else resolve();
        };
        // A put that fails stops reading: poll so a writer waiting for 'drain' learns it.
        const poll = setInterval(() => failure && done(), 50);
        pass.once('drain', done);
      });
    const writer: CopyWriter = {
      location,
      uri: this.uriOf(key),
      manifestUri: this.manifestUriOf(key),
      write: async (chunk) => {
        if (failure) throw failure;
        if (!pass.write(chunk)) await drained();
      },
      finish: async (expected: Digest) => {
        if (failure) throw failure;
        pass.end();
        await put;
        // Put, then verify what the server says it holds.
        const info = await os.info(name);
        if (!info || info.deleted) throw new LocationError(location, `${name} is missing from bucket ${this.bucket} right after the put`);
        if (info.size !== expected.sizeBytes || !sameDigest(info.digest, expected.sha256)) {
          throw new LocationError(location, `${name} in bucket ${this.bucket} holds ${info.size} bytes (${info.digest}), expected ${expected.sizeBytes} bytes (${objectDigestOf(expected.sha256)})`);
        }
      },
      commit: async (manifest) => {
        try {
          await os.putBlob({ name: manifestPath(key), description: `manifest of ${key.backupId}` }, manifest);
          manifestStored = true;
        } catch (error) {
          throw new LocationError(location, `cannot store manifest ${manifestPath(key)}: ${(error as Error).message}`, { cause: error });
        }
      },
      abort: async (reason?: Error): Promise<CleanupResult> => {
        try {
          if (!stored && !failure) {
            failure = new LocationError(location, `aborted: ${reason?.message ?? 'backup failed'}`);
            pass.destroy(failure);
          }
          await put.catch(() => undefined);
          if (manifestStored || (await os.info(manifestPath(key)))) await os.delete(manifestPath(key));
          const info = await os.info(name);
          if (info && !info.deleted) await os.delete(name);
          return { location, uri: writer.uri, removed: true, error: null };
        } catch (error) {
          return { location, uri: writer.uri, removed: false, error: (error as Error).message };
        }
      },
    };
    return writer;
  }

  async read(key: ArtifactKey): Promise<Readable> {
    const os = await this.open();
    const result = await os.get(artifactPath(key));
    if (!result) throw new LocationError(this.name, `${artifactPath(key)} is not in bucket ${this.bucket}`);
    const stream = Readable.fromWeb(result.data as unknown as WebReadableStream<Uint8Array>);
    // The library checks the object's digest at the end; a mismatch surfaces as a stream error.
    result.error.then((error) => error && stream.destroy(error), (error: Error) => stream.destroy(error));
    return stream;
  }

  async listManifests(resource: string): Promise<string[]> {
    const os = await this.open();
    const prefix = `${resource}/`;
    return (await os.list()).filter((info) => !info.deleted && info.name.startsWith(prefix) && info.name.endsWith('.manifest.json')).map((info) => info.name.slice(prefix.length));
  }

  async readManifest(key: ArtifactKey): Promise<Buffer | null> {
    const os = await this.open();
    const blob = await os.getBlob(manifestPath(key));
    return blob ? Buffer.from(blob) : null;
  }

  async remove(key: ArtifactKey) {
    try {
      const os = await this.open();
      const manifest = await os.info(manifestPath(key));
      if (manifest && !manifest.deleted) await os.delete(manifestPath(key));
      const info = await os.info(artifactPath(key));
      if (info && !info.deleted) await os.delete(artifactPath(key));
      return { deleted: true, error: null };
    } catch (error) {
      return { deleted: false, error: (error as Error).message };
    }
  }

  async close() {
    if (this.options.ownsConnection) await this.nc.drain().catch(() => undefined);
  }
}
