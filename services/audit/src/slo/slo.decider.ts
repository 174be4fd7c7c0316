import type { SloBreachedV1, SloKind, SloRestoredV1 } from '@continuity/contracts';
import { recoverableMoment } from '../resource-state/protection.projection.js';
import { assessAt, ResourceState, SloTargets } from '../resource-state/resource-state.projection.js';
import { findingId } from '../risks/finding-id.js';

const ms = (iso: string) => Date.parse(iso);
const iso = (value: number) => new Date(value).toISOString();
const minutes = (value: number) => `${(value / 60_000).toFixed(1)} min`;

/** One objective measured now: whether it is breached, since when, by how much, and on what evidence. */
export interface SloMeasurement {
  kind: SloKind;
  breached: boolean;
  measured: number;
  target: number;
  unit: 'ms' | 'ratio';
  since: string;
  detail: string;
  evidence: string[];
}

/** Since when RPO exposure has grown: the newest recoverable moment, else when the resource was first seen. */
export const rpoSince = (state: ResourceState, moment = recoverableMoment(state)): number => (moment ? ms(moment.at) : ms(state.trackedSince));

/** Whether availability is an objective of the resource: replicated, or it has had downtime. */
const availabilityApplies = (state: ResourceState) => !!state.protection?.hasReplication || state.downtimeMs > 0 || !!state.openOutage;

/** Measures each objective that applies to the resource at `now` (pure). */
export const measureSlos = (state: ResourceState, now: Date, targets: SloTargets): SloMeasurement[] => {
  const p = state.protection;
  const out: SloMeasurement[] = [];
  const nowMs = now.getTime();
  if (p?.hasBackups) {
    const moment = recoverableMoment(state);
    const from = rpoSince(state, moment);
    const exposure = Math.max(0, nowMs - from);
    out.push({
      kind: 'rpo',
      breached: exposure > targets.rpoMs,
      measured: exposure,
      target: targets.rpoMs,
      unit: 'ms',
      since: iso(from + targets.rpoMs),
      detail: moment
        ? `RPO exposure ${minutes(exposure)} since the newest recoverable moment ${moment.at}, target ${minutes(targets.rpoMs)}`
        : `no recoverable moment for ${minutes(exposure)} since the resource was first seen, target ${minutes(targets.rpoMs)}`,
      evidence: moment?.eventId ? [moment.eventId] : [],
    });
  }
  const recovery = p?.lastRecovery;
  if (recovery) {
    out.push({
      kind: 'rto',
      breached: recovery.ms > targets.rtoMs,
      measured: recovery.ms,
      target: targets.rtoMs,
      unit: 'ms',
      since: recovery.at,
      detail: `the last ${recovery.kind} took ${(recovery.ms / 1000).toFixed(1)} s, target ${(targets.rtoMs / 1000).toFixed(1)} s`,
      evidence: [recovery.eventId],
    });
  }
  if (availabilityApplies(state)) {
    const { availability } = assessAt(state, now, targets);
    out.push({
      kind: 'availability',
      breached: availability < targets.availability,
      measured: availability,
      target: targets.availability,
      unit: 'ratio',
      since: iso(nowMs),
      detail: `availability ${(availability * 100).toFixed(4)} % since ${state.trackedSince}${state.openOutage ? ' (an outage is still open)' : ''}, target ${(targets.availability * 100).toFixed(4)} %`,
      evidence: p?.lastOutageEventId ? [p.lastOutageEventId] : [],
    });
  }
  return out;
};

/**
 * The first moment after `now` at which the clock alone can change which objectives
 * `measureSlos` finds breached (the state staying as it is), or null if it never can. Pure. Early
 * is harmless (the caller judges again and asks again); late is a breach announced late, so where
 * an exact moment is not worth deriving the answer is the next moment (`now + 1`).
 * - RPO: exposure only grows, so a breach opens once, at `rpoSince + target + 1`, and never closes by time.
 * - RTO: the last recovery's duration, no clock.
 * - Availability, no outage open: downtime is fixed while the window grows, so a breach closes
 *   once, at `trackedSince + downtime / (1 − target)`; with an outage open (rare, brief, and when
 *   it matters most): the next moment.
 */
export const nextSloChange = (state: ResourceState, now: Date, targets: SloTargets): number | null => {
  const nowMs = now.getTime();
  const times: number[] = [];
  if (state.protection?.hasBackups) {
    const opens = rpoSince(state) + targets.rpoMs + 1;
    if (opens > nowMs) times.push(opens);
  }
  if (availabilityApplies(state)) {
    if (state.openOutage) times.push(nowMs + 1);
    else if (state.downtimeMs > 0 && targets.availability < 1 && assessAt(state, now, targets).availability < targets.availability) {
      // Rounded down, and never before the next moment: floating point must not make it late.
      times.push(Math.max(nowMs + 1, Math.floor(ms(state.trackedSince) + state.downtimeMs / (1 - targets.availability))));
    }
  }
  const finite = times.filter(Number.isFinite);
  return finite.length ? Math.min(...finite) : null;
};

export interface SloDecision {
  breach: SloBreachedV1[];
  restore: SloRestoredV1[];
}

/**
 * Breaches to open and close for a resource at `now`: a breached objective with no open breach
 * (as the ledger says: SloBreached folded, no SloRestored yet) is opened; an open breach whose
 * objective is within target again is closed. The breach id comes from the resource, the kind and
 * how many breaches of that kind ended before, so every instance, before or after a restart,
 * announces a breach under the same id. `measured`: `measureSlos(state, now, targets)`, when the
 * caller has it already.
 */
export const decideSlos = (state: ResourceState, now: Date, targets: SloTargets, measured = measureSlos(state, now, targets)): SloDecision => {
  const open = state.protection?.openSlo ?? {};
  const generations = state.protection?.generations ?? {};
  const breach: SloBreachedV1[] = [];
  const restore: SloRestoredV1[] = [];
  for (const m of measured) {
    const current = open[m.kind];
    const { breached: _b, ...measure } = m;
    if (m.breached && !current) {
      const breachId = findingId(`${state.resource}|slo|${m.kind}|${generations[`slo:${m.kind}`] ?? 0}`, ms(state.trackedSince));
      breach.push({ breachId, ...measure });
    } else if (!m.breached && current) {
      const { since: _s, ...rest } = measure;
      restore.push({ breachId: current.id, ...rest, breachedAt: current.since, restoredAt: now.toISOString() });
    }
  }
  return { breach, restore };
};
