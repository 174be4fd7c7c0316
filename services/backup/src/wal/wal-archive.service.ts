import { Inject, Injectable, Logger, OnApplicationBootstrap, OnApplicationShutdown } from '@nestjs/common';
import type { ContinuityPublisher } from '@continuity/contracts';
import type { NatsConnection } from '@nats-io/transport-node';
import { NATS_CONNECTION, PUBLISHER, SERVICE_CONFIG } from '@continuity/runtime';
import type { BackupEnv } from '../backup.env.js';
import type { BackupGraph } from '../backup.wiring.js';
import { BACKUP_GRAPH } from '../tokens.js';
import { followPrimary } from './follow-primary.js';
import { RestorePoints } from './restore-points.js';
import { WalArchiver } from './wal-archiver.js';

const START_RETRY_MS = 10_000;

/**
 * Starts one WAL archiver per policy with `wal.enabled` when the service starts (with its restore
 * points on their timer), and stops them (slots kept, so the next start resumes without a gap)
 * when it stops. A gap the archiver cannot close starts a base backup through the same runner
 * as every backup (`method: basebackup` whatever the policy's method). Two instances of the
 * service may both try: the slot admits one streaming client at a time, and the other's
 * `pg_receivewal` keeps retrying with back-off until the slot is free.
 */
@Injectable()
export class WalArchiveService implements OnApplicationBootstrap, OnApplicationShutdown {
  private readonly logger = new Logger('WalArchive');
  readonly archivers: WalArchiver[] = [];
  private readonly restorePoints: RestorePoints[] = [];
  private readonly follows: { stop(): void }[] = [];
  private readonly retries = new Set<NodeJS.Timeout>();
  private stopped = false;

  constructor(
    @Inject(SERVICE_CONFIG) private readonly env: BackupEnv,
    @Inject(BACKUP_GRAPH) private readonly graph: BackupGraph,
    @Inject(PUBLISHER) private readonly publisher: ContinuityPublisher,
    @Inject(NATS_CONNECTION) private readonly nc: NatsConnection,
  ) {}

  onApplicationBootstrap() {
    if (this.env.BACKUP_WAL_ARCHIVE === 'off') {
      this.logger.log('BACKUP_WAL_ARCHIVE=off: no WAL is archived by this process');
      return;
    }
    for (const policy of this.graph.config.policies.values()) {
      if (!policy.wal) continue;
      const archiver = new WalArchiver({
        policy,
        locations: this.graph.locations,
        publisher: this.publisher,
        queue: (event) => this.graph.catalogue.queue(event),
        flush: () => this.graph.runner.flushOutbox(),
        inventory: this.graph.walInventory,
        startBaseBackup: async () => (await this.graph.runner.start(policy.resourceName, { trigger: 'wal-gap', method: 'basebackup' })).backupId,
        spoolDir: this.env.BACKUP_WAL_SPOOL,
        logger: this.logger,
      });
      this.archivers.push(archiver);
      this.startArchiver(archiver);
      const points = new RestorePoints({
        policy,
        publisher: this.publisher,
        queue: (event) => this.graph.catalogue.queue(event),
        flush: () => this.graph.runner.flushOutbox(),
        logger: this.logger,
        connection: () => archiver.currentConnection,
      });
      points.start();
      if (policy.wal.followPrimary && policy.resource.kind === 'postgres') {
        this.follows.push(
          followPrimary({
            nc: this.nc,
            resource: policy.resourceName,
            namespace: this.env.CONTINUITY_NAMESPACE,
            configured: policy.resource.connection,
            repoint: (connection, why) => archiver.repoint(connection, why),
            logger: this.logger,
          }),
        );
      }
      this.restorePoints.push(points);
    }
  }

  /** A server unreachable at start (the slot cannot be created) is tried again, not fatal to the service. */
  private startArchiver(archiver: WalArchiver) {
    archiver.start().then(
      () => this.logger.log(`archiving WAL of ${archiver.resourceName} from slot ${archiver.slot}`),
      (error: Error) => {
        this.logger.error(`cannot start the WAL archive (slot ${archiver.slot}): ${error.message}; retrying in ${START_RETRY_MS / 1000} s`);
        void archiver.stop();
        if (this.stopped) return;
        const timer = setTimeout(() => {
          this.retries.delete(timer);
          this.startArchiver(archiver);
        }, START_RETRY_MS);
        timer.unref();
        this.retries.add(timer);
      },
    );
  }

  async onApplicationShutdown() {
    this.stopped = true;
    for (const timer of this.retries) clearTimeout(timer);
    for (const points of this.restorePoints) points.stop();
    for (const follow of this.follows) follow.stop();
    await Promise.all(this.archivers.map((a) => a.stop().catch(() => undefined)));
  }
}
