import type { NatsConnection } from '@nats-io/transport-node';
import { connectNats, DEFAULT_REPLICAS, type NatsAuthOptions } from '@continuity/messaging/nats';
import { redactSecrets } from '@continuity/runtime/standalone';
import type { BackupConfig } from '../../config/backup-config.loader.js';
import type { LocationConfig } from '../../config/backup-config.schema.js';
import { FilesystemLocation } from './filesystem.location.js';
import type { BackupLocation } from './location.js';
import { ObjectStoreLocation } from './object-store.location.js';

/** The configured copy locations, opened lazily; object stores share the service's NATS connection. */
export class LocationRegistry {
  private readonly opened = new Map<string, BackupLocation>();

  constructor(
    private readonly config: BackupConfig,
    private readonly nc: NatsConnection,
    /** `NATS_REPLICAS`, for object store buckets whose location does not set `replicas`. */
    private readonly replicas = DEFAULT_REPLICAS,
    /** Credentials on remote sites' NATS: the same identity (the same identities file generates each site's configuration). */
    private readonly auth: NatsAuthOptions = {},
  ) {}

  names(): string[] {
    return [...this.config.locations.keys()];
  }

  get(name: string): BackupLocation {
    const existing = this.opened.get(name);
    if (existing) return existing;
    const config = this.config.locations.get(name);
    if (!config) throw new Error(`unknown location "${name}" (known: ${this.names().join(', ') || 'none'})`);
    const location = this.build(name, config);
    this.opened.set(name, location);
    return location;
  }

  private build(name: string, config: LocationConfig): BackupLocation {
    if (config.kind === 'filesystem') return new FilesystemLocation(name, config.site, config.medium, config.path);
    if (!config.natsUrl) return new ObjectStoreLocation(name, config.site, config.medium, config.bucket, this.nc, { replicas: config.replicas ?? this.replicas });
    return new LazyObjectStore(name, config, config.replicas ?? this.replicas, this.auth);
  }

  async close() {
    await Promise.all([...this.opened.values()].map((l) => l.close().catch(() => undefined)));
    this.opened.clear();
  }
}

/** An object store on a NATS of its own (another site's cluster): connected on first use. */
class LazyObjectStore implements BackupLocation {
  readonly kind = 'object-store' as const;
  readonly site: string;
  readonly medium: string;
  private inner: Promise<ObjectStoreLocation> | null = null;
  private readonly naming: ObjectStoreLocation;

  constructor(
    readonly name: string,
    private readonly config: Extract<LocationConfig, { kind: 'object-store' }>,
    private readonly replicas: number,
    private readonly auth: NatsAuthOptions,
  ) {
    this.site = config.site;
    this.medium = config.medium;
    this.naming = new ObjectStoreLocation(name, config.site, config.medium, config.bucket, null as unknown as NatsConnection);
  }

  private open() {
    this.inner ??= connectNats(this.config.natsUrl!, this.auth, { name: `backup-location-${this.name}`, timeout: 5_000 }).then(
      (nc) => new ObjectStoreLocation(this.name, this.site, this.medium, this.config.bucket, nc, { replicas: this.replicas, ownsConnection: true }),
      (error: Error) => {
        this.inner = null;
        throw new Error(`${this.name}: NATS at ${redactSecrets(this.config.natsUrl!)} is not reachable: ${redactSecrets(error.message)}`);
      },
    );
    return this.inner;
  }

  uriOf: BackupLocation['uriOf'] = (key) => this.naming.uriOf(key);
  manifestUriOf: BackupLocation['manifestUriOf'] = (key) => this.naming.manifestUriOf(key);
  begin: BackupLocation['begin'] = async (key) => (await this.open()).begin(key);
  read: BackupLocation['read'] = async (key) => (await this.open()).read(key);
  readManifest: BackupLocation['readManifest'] = async (key) => (await this.open()).readManifest(key);
  listManifests: BackupLocation['listManifests'] = async (resource) => (await this.open()).listManifests(resource);
  remove: BackupLocation['remove'] = async (key) => (await this.open()).remove(key);
  close = async () => {
    if (this.inner) await (await this.inner.catch(() => null))?.close();
  };
}
