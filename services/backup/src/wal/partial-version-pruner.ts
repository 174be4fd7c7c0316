import { walArtifactKey } from '@continuity/artifacts';
import { redactSecrets } from '@continuity/runtime/standalone';
import type { LoggerLike } from '../backup-run/backup-runner.js';
import type { LocationRegistry } from '../backup-run/locations/location.registry.js';
import type { WalInventory } from './wal-inventory.js';
import { selectSupersededPartials } from './partial-versions.policy.js';

export interface PartialVersionPrunerDeps {
  resource: string;
  graceMs: number;
  locations: Pick<LocationRegistry, 'get'>;
  inventory: Pick<WalInventory, 'partialVersions' | 'markExpired'>;
  now: () => Date;
  logger: LoggerLike;
}

/**
 * Removes the versions of partial WAL segments superseded for longer than the grace period
 * (`selectSupersededPartials`) from every copy that holds them, then marks them expired in the
 * inventory. A version one copy would not give up stays live and is tried again next time. No
 * event: the WalArchived of what superseded it is the record, and the recoverable window does not
 * change (the newer version holds every byte the removed one held).
 */
export class PartialVersionPruner {
  constructor(private readonly deps: PartialVersionPrunerDeps) {}

  async prune(): Promise<string[]> {
    const { resource, locations, inventory } = this.deps;
    const superseded = selectSupersededPartials(await inventory.partialVersions(resource), { now: this.deps.now(), graceMs: this.deps.graceMs });
    const removed: string[] = [];
    for (const { version } of superseded) {
      let all = true;
      for (const copy of version.copies) {
        const result = await locations
          .get(copy.location)
          .remove(walArtifactKey(resource, version.name, version.encrypted))
          .catch((error: Error) => ({ deleted: false, error: error.message }));
        if (!result.deleted) {
          all = false;
          this.deps.logger.warn(`WAL archive of ${resource}: superseded partial version ${version.name} not removed from ${copy.location}: ${redactSecrets(result.error ?? 'no reason given')} (tried again later)`);
        }
      }
      if (all) removed.push(version.name);
    }
    if (removed.length) {
      await inventory.markExpired(resource, removed, this.deps.now().toISOString());
      this.deps.logger.log(`WAL archive of ${resource}: ${removed.length} superseded partial version(s) removed (${removed[0]}${removed.length > 1 ? ` … ${removed[removed.length - 1]}` : ''})`);
    }
    return removed;
  }
}
