import { aDrillStepRequestedData, anEvent } from '@continuity/contracts/testing';
import { decideRehearsalRequest } from './drill-request.policy.js';

describe('drill switchover requests', () => {
  const now = Date.parse('2026-11-26T09:05:00.000Z');
  const request = (over: Partial<ReturnType<typeof anEvent<'DrillStepRequested'>>> = {}) =>
    anEvent('DrillStepRequested', { data: aDrillStepRequestedData({ deadline: '2026-11-26T09:10:00.000Z' }), ...over });

  it('rehearses a request from the backup service, before its deadline, for a watched resource', () => {
    expect(decideRehearsalRequest(request(), now, ['orders-db'])).toEqual({ action: 'rehearse' });
  });

  it.each(['verifier', 'failover', 'audit', 'billing', 'admin'])('refuses a forged request from %s without answering it', (source) => {
    expect(decideRehearsalRequest(request({ source }), now, ['orders-db'])).toEqual({
      action: 'refuse',
      reason: `DrillStepRequested from "${source}" refused: only the backup service's drill coordinator may request a drill switchover`,
    });
  });

  it('answers failed, switching nothing, a request past its deadline or for a resource it does not watch', () => {
    expect(decideRehearsalRequest(request(), Date.parse('2026-11-26T09:10:00.000Z'), ['orders-db'])).toMatchObject({ action: 'answer-failed', reason: expect.stringContaining('after its deadline') });
    expect(decideRehearsalRequest(request({ resource: 'billing-db' }), now, ['orders-db'])).toMatchObject({ action: 'answer-failed', reason: expect.stringContaining('not watched') });
  });
});
