import { judgeDrill, judgeStep, MeasuredStep, stepsOf } from './drill.decider.js';

const targets = { rtoMs: 10_000, rpoMs: 300_000 };
const t0 = new Date('2026-11-26T09:00:00.000Z');
const at = (ms: number) => new Date(t0.getTime() + ms);
const measured = (over: Partial<MeasuredStep> = {}): MeasuredStep => ({
  step: 'restore',
  startedAt: t0,
  finishedAt: at(4_000),
  rtoMs: 3_500,
  rpoMs: 60_000,
  error: null,
  checks: [{ name: 'row counts as recorded', ok: true, detail: '3 tables' }],
  ...over,
});
const judged = (m: MeasuredStep) => ({ step: m.step, durationMs: m.finishedAt.getTime() - m.startedAt.getTime(), rtoMs: m.rtoMs, rpoMs: m.rpoMs, ...judgeStep(m, targets) });

describe('drill decider', () => {
  it('runs the failover before the restore in a full drill', () => {
    expect(stepsOf('restore')).toEqual(['restore']);
    expect(stepsOf('failover')).toEqual(['failover']);
    expect(stepsOf('full')).toEqual(['failover', 'restore']);
  });

  it('passes a step within both targets', () => {
    expect(judgeStep(measured(), targets)).toEqual({ outcome: 'passed', reason: null });
  });

  it('fails a step over the RTO target, saying by how much', () => {
    expect(judgeStep(measured({ rtoMs: 12_000 }), targets)).toEqual({ outcome: 'failed', reason: 'restore took 12.0 s, above the RTO target of 10.0 s' });
  });

  it('fails a step over the RPO target', () => {
    expect(judgeStep(measured({ rpoMs: 400_000 }), targets).reason).toBe('restore would lose 400.0 s of data, above the RPO target of 300.0 s');
  });

  it('fails a step whose checks failed, or that could not finish, with the reason', () => {
    expect(judgeStep(measured({ checks: [{ name: 'row counts as recorded', ok: false, detail: 'public.orders: 2 rows, recorded 3' }] }), targets).reason).toBe(
      'checks failed: row counts as recorded (public.orders: 2 rows, recorded 3)',
    );
    expect(judgeStep(measured({ error: 'step timed out after 5.0 s', rtoMs: null }), targets)).toEqual({ outcome: 'failed', reason: 'step timed out after 5.0 s' });
  });

  it('passes a drill whose steps passed, with the worst step RTO and RPO achieved', () => {
    const done = judgeDrill({ drillId: 'd', kind: 'restore', targets, startedAt: t0 }, [judged(measured())], at(4_100));
    expect(done).toMatchObject({ outcome: 'passed', failedStep: null, reason: null, achieved: { rtoMs: 3_500, rpoMs: 60_000 }, recoveredMs: 4_100 });
  });

  it('fails a drill naming the first failed step', () => {
    const done = judgeDrill({ drillId: 'd', kind: 'full', targets, startedAt: t0 }, [judged(measured({ step: 'failover', error: 'failover service did not answer within 5.0 s', rtoMs: null }))], at(5_000));
    expect(done).toMatchObject({ outcome: 'failed', failedStep: 'failover', reason: 'failover step failed: failover service did not answer within 5.0 s', recoveredMs: null });
  });

  it('fails a full drill whose whole recovery is over the RTO target though each step is within it', () => {
    const steps = [judged(measured({ step: 'failover', rtoMs: 6_000, rpoMs: 0, finishedAt: at(6_000) })), judged(measured({ startedAt: at(6_000), finishedAt: at(12_000), rtoMs: 6_000 }))];
    const done = judgeDrill({ drillId: 'd', kind: 'full', targets, startedAt: t0 }, steps, at(12_000));
    expect(done).toMatchObject({ outcome: 'failed', failedStep: 'restore', recoveredMs: 12_000, achieved: { rtoMs: 12_000 } });
    expect(done.reason).toContain('disaster declared to clients routed and data checked');
  });

  it('fails a drill a step of which never ran', () => {
    expect(judgeDrill({ drillId: 'd', kind: 'full', targets, startedAt: t0 }, [judged(measured({ step: 'failover', rpoMs: 0 }))], at(4_000))).toMatchObject({
      outcome: 'failed',
      failedStep: 'restore',
      reason: 'restore step did not run',
    });
  });
});
