import { Inject, Injectable, Logger } from '@nestjs/common';
import { InjectDataSource } from '@nestjs/typeorm';
import { isDeepStrictEqual } from 'node:util';
import { DataSource } from 'typeorm';
import { SERVICE_CONFIG } from '@continuity/runtime';
import { AuditConfig } from '../config/audit.config.js';
import { WRITER_LOCK } from '../database/advisory-locks.js';
import { foldEntries, ProjectedResource, ResourceSnapshot } from './projection-fold.js';
import { ResourceState } from './resource-state.projection.js';
import { sloTargetsOf } from './slo-targets.js';
import { readStoredEntry } from './stored-entry.js';
import { insertSnapshotsSql, snapshotRows, stateRows, upsertStatesSql } from './projection-rows.js';

const CHUNK = 5_000;

/**
 * Rebuilds every resource's projection from the log alone and compares it with the stored one;
 * with `apply`, replaces the stored projections and snapshots in one transaction. Because the
 * projection is a pure fold, a rebuild must give identical results: a difference means the
 * projection code changed or the stored state was altered.
 */
@Injectable()
export class ProjectionRebuildService {
  private readonly logger = new Logger(ProjectionRebuildService.name);
  private readonly replacedListeners: (() => void)[] = [];

  constructor(
    @InjectDataSource() private readonly dataSource: DataSource,
    @Inject(SERVICE_CONFIG) private readonly config: AuditConfig,
  ) {}

  /** Called when stored projections were replaced, so whoever caches them (the ledger writer) drops its copy. */
  onReplaced(listener: () => void) {
    this.replacedListeners.push(listener);
  }

  async rebuild(apply: boolean) {
    return this.dataSource.transaction(async (tx) => {
      // The ledger writer's lock: no entry lands while we rebuild.
      await tx.query('select pg_advisory_xact_lock($1)', [WRITER_LOCK]);
      const targets = sloTargetsOf(this.config);
      let states = new Map<string, ProjectedResource>();
      const snapshots: ResourceSnapshot[] = [];
      let entries = 0;
      for (let after = -1; ; ) {
        const rows = await tx.query(
          // Untrusted entries were never folded (see the ledger writer): neither are they here.
          'select log_index, resource, recorded_at, envelope from audit.log_entries where log_index > $1 and untrusted is null order by log_index limit $2',
          [after, CHUNK],
        );
        if (rows.length === 0) break;
        const folded = foldEntries(states, rows.map(readStoredEntry), targets);
        states = folded.states;
        snapshots.push(...folded.snapshots);
        entries += rows.length;
        after = Number(rows[rows.length - 1].log_index);
      }
      const stored: { resource: string; state: ResourceState; entry_count: string }[] = await tx.query('select resource, state, entry_count from audit.resource_states');
      const storedBy = new Map(stored.map((r) => [r.resource, r]));
      const differences = [...new Set([...states.keys(), ...storedBy.keys()])]
        .filter((resource) => {
          const rebuilt = states.get(resource);
          const was = storedBy.get(resource);
          return !rebuilt || !was || Number(was.entry_count) !== rebuilt.count || !isDeepStrictEqual(was.state, JSON.parse(JSON.stringify(rebuilt.state)));
        })
        .sort();
      if (apply) {
        await tx.query('delete from audit.resource_snapshots');
        await tx.query('delete from audit.resource_states');
        await tx.query(upsertStatesSql(1), stateRows([...states.entries()]));
        await tx.query(insertSnapshotsSql(1), snapshotRows(snapshots));
        for (const listener of this.replacedListeners) listener();
      }
      if (differences.length) this.logger.warn(`projection rebuild from ${entries} entries differs for: ${differences.join(', ')}${apply ? ' (replaced)' : ''}`);
      return { entries, resources: states.size, identical: differences.length === 0, differences, applied: apply };
    });
  }
}
