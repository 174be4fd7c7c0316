import type { Observation } from '../probing/observation.js';
import { MemberCheckInput, primaryCheck, replicaCheck } from './member-checks.js';

const now = Date.parse('2026-12-01T02:00:00.000Z');
const primary = (over: Partial<Observation> = {}): Observation => ({
  member: 'pg-a',
  at: now - 500,
  reachable: true,
  inRecovery: false,
  currentLsn: '0/3000100',
  replication: [{ name: 'pg-b', state: 'streaming', syncState: 'async' }],
  ...over,
});
const standby = (over: Partial<Observation> = {}): Observation => ({ member: 'pg-b', at: now - 500, reachable: true, inRecovery: true, replayLsn: '0/3000000', receiveLsn: '0/3000100', ...over });
const input = (member: string, observations: Record<string, Observation>, routedPrimary: string | null = 'pg-a'): MemberCheckInput => ({ member, routedPrimary, observations, nowMs: now, maxProbeAgeMs: 5_000 });

describe('load-balancer member checks', () => {
  it('primary: healthy only for the routed, answering, writable primary', () => {
    const all = { 'pg-a': primary(), 'pg-b': standby() };
    expect(primaryCheck(input('pg-a', all))).toMatchObject({ healthy: true });
    expect(primaryCheck(input('pg-b', all))).toEqual({ healthy: false, detail: 'pg-b is not the routed primary (pg-a)' });
    expect(primaryCheck(input('pg-a', all, null)).healthy).toBe(false);
    expect(primaryCheck(input('pg-a', { 'pg-a': primary({ reachable: false, error: 'ECONNREFUSED' }) })).detail).toBe('pg-a does not answer'); // the probe's error (addresses, user names) is not told to anyone asking
    expect(primaryCheck(input('pg-a', { 'pg-a': primary({ readOnly: true }) })).healthy).toBe(false);
    expect(primaryCheck(input('pg-a', { 'pg-a': primary({ inRecovery: true }) })).healthy).toBe(false);
    expect(primaryCheck(input('pg-a', { 'pg-a': primary({ at: now - 60_000 }) })).detail).toContain('not been probed within 5000 ms');
  });

  it('replica: healthy only for a streaming standby within the lag bound', () => {
    const all = { 'pg-a': primary(), 'pg-b': standby() };
    expect(replicaCheck({ ...input('pg-b', all), maxLagBytes: 1024 })).toEqual({ healthy: true, detail: 'pg-b streams from pg-a, 256 bytes behind' });
    expect(replicaCheck({ ...input('pg-b', all), maxLagBytes: 100 }).detail).toBe('pg-b is 256 bytes behind pg-a (more than 100)');
    expect(replicaCheck({ ...input('pg-a', all), maxLagBytes: 1024 }).detail).toBe('pg-a is the primary, not a replica');
    expect(replicaCheck({ ...input('pg-b', all, null), maxLagBytes: 1024 }).healthy).toBe(false);
    expect(replicaCheck({ ...input('pg-b', { ...all, 'pg-a': primary({ replication: [] }) }), maxLagBytes: 1024 }).detail).toBe('pg-b is not streaming from pg-a (not connected)');
    expect(replicaCheck({ ...input('pg-b', { ...all, 'pg-a': primary({ replication: [{ name: 'pg-b', state: 'catchup', syncState: 'async' }] }) }), maxLagBytes: 1024 }).healthy).toBe(false);
    expect(replicaCheck({ ...input('pg-b', { ...all, 'pg-b': standby({ inRecovery: false }) }), maxLagBytes: 1024 }).detail).toContain('not in recovery');
    expect(replicaCheck({ ...input('pg-b', { ...all, 'pg-b': standby({ reachable: false }) }), maxLagBytes: 1024 }).healthy).toBe(false);
    expect(replicaCheck({ ...input('pg-b', { ...all, 'pg-a': primary({ at: now - 60_000 }) }), maxLagBytes: 1024 }).healthy).toBe(false);
    // A standby ahead of the primary's last probe (probes are not simultaneous) is 0 bytes behind.
    expect(replicaCheck({ ...input('pg-b', { ...all, 'pg-b': standby({ replayLsn: '0/3000200' }) }), maxLagBytes: 0 })).toMatchObject({ healthy: true });
  });
});
