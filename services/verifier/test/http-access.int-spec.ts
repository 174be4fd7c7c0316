import { callAsStrangers, MutatingRoute, refusedToStrangers } from '@continuity/runtime/testing';
import { publishExternalBackup, startVerifierWorld, VerifierWorld } from './harness.js';

/** Whoever can reach the port but holds no operator token cannot make the verifier restore-test anything. */
describe('verifier HTTP access (real NATS and PostgreSQL)', () => {
  let world: VerifierWorld;

  beforeAll(async () => {
    world = await startVerifierWorld('access');
  });
  afterAll(async () => {
    await world?.close();
  });

  it('refuses POST /verifications to an anonymous caller, a viewer and an auditor, and starts no verification', async () => {
    const { data } = await publishExternalBackup(world, {
      resource: 'billing-db',
      resourceKind: 'external',
      method: 'vendor-snapshot',
      artifact: Buffer.from('snapshot bytes'),
      copies: [{ location: 'primary', kind: 'file' }],
    });
    await world.verdict(data.backupId, 'new');

    const routes: MutatingRoute[] = [
      { method: 'POST', path: '/verifications', body: { backupId: data.backupId } },
      { method: 'POST', path: '/dlq/1/replay' },
    ];
    expect(await callAsStrangers(world.base, routes)).toEqual(refusedToStrangers(routes));
    expect((await world.get(`/verifications?backupId=${data.backupId}`)).body.verifications).toHaveLength(1);
    expect(await world.verdicts(data.backupId)).toHaveLength(1);

    // The operator's request is accepted and verified.
    expect(await world.post('/verifications', { backupId: data.backupId })).toMatchObject({ status: 202 });
    await world.verdict(data.backupId, 'manual');
  });
});
