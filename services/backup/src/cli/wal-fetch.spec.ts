import { parseRestorePlan, RESTORE_PLAN_FORMAT } from '@continuity/artifacts';
import { natsSettings } from './wal-fetch.main.js';

describe("wal-fetch's NATS credentials", () => {
  const plan = { nats: { NATS_NKEY_SEED_FILE: '/etc/continuity/restore.nk', NATS_CA: '/etc/continuity/ca.pem' } };

  it("takes the environment's identity when it names one, the plan's credential files otherwise; the CA from either", () => {
    expect(natsSettings(plan, { NATS_USER: 'restorer', NATS_PASSWORD: 'pw' })).toEqual({ NATS_USER: 'restorer', NATS_PASSWORD: 'pw', NATS_CA: '/etc/continuity/ca.pem' });
    expect(natsSettings(plan, {})).toEqual({ NATS_NKEY_SEED_FILE: '/etc/continuity/restore.nk', NATS_CA: '/etc/continuity/ca.pem' });
    expect(natsSettings({ nats: null }, { NATS_CA: '/ca.pem' })).toEqual({ NATS_CA: '/ca.pem' });
  });

  it('a plan records credential files by absolute path only, and nothing else (no password field)', () => {
    const base = { format: RESTORE_PLAN_FORMAT, resource: 'r', backupId: 'b', target: { kind: 'latest', value: null }, recordsFrom: 'x', encryption: null, locations: [], files: [] };
    expect(parseRestorePlan(JSON.stringify({ ...base, nats: { NATS_CREDS: '/k/x.creds' } })).nats).toEqual({ NATS_CREDS: '/k/x.creds' });
    expect(() => parseRestorePlan(JSON.stringify({ ...base, nats: { NATS_CREDS: 'x.creds' } }))).toThrow(/nats\.NATS_CREDS/);
    expect(() => parseRestorePlan(JSON.stringify({ ...base, nats: { NATS_PASSWORD: 'secret' } }))).toThrow(/restore plan is invalid/);
  });
});
