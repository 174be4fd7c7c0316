import { continuityEvents, Envelope } from '@continuity/contracts';
import type { LedgerEntry } from './resource-state.projection.js';

/** Parses a stored envelope for folding: upcast to the newest version this build knows. */
export const readStoredEvent = (envelope: unknown): Envelope => continuityEvents.parse(envelope, { allowUnknownTypes: true });

/** A `log_entries` row (log_index, recorded_at, envelope) as the projection folds it. */
export const readStoredEntry = (row: { log_index: string | number; recorded_at: Date | string; envelope: unknown }): LedgerEntry => ({
  logIndex: Number(row.log_index),
  recordedAt: new Date(row.recorded_at).toISOString(),
  event: readStoredEvent(row.envelope),
});
