import { ContractViolationError } from '../errors.js';
import { continuityEvents } from '../events.js';
import { aDrillCompletedData, aDrillStepCompletedData, anEvent } from '../testing.js';

describe('Drill events v1', () => {
  it.each(['DrillStarted', 'DrillStepCompleted', 'DrillCompleted', 'DrillStepRequested'] as const)('%s is a known type at version 1, published by backup', (type) => {
    const event = anEvent(type);
    expect(event).toMatchObject({ version: 1, source: 'backup' });
    expect(continuityEvents.parse(event)).toEqual(event);
  });

  it('FailoverRehearsed is published by failover', () => {
    const event = anEvent('FailoverRehearsed');
    expect(event).toMatchObject({ version: 1, source: 'failover' });
    expect(continuityEvents.parse(event)).toEqual(event);
  });

  it('a failed drill names its failed step; unknown steps and outcomes are refused', () => {
    const failed = anEvent('DrillCompleted', {
      data: aDrillCompletedData({ outcome: 'failed', failedStep: 'restore', reason: 'restore took 4.0 s, above the RTO target of 1.0 s' }),
    });
    expect(continuityEvents.parse(failed).data).toMatchObject({ outcome: 'failed', failedStep: 'restore' });
    expect(() => continuityEvents.parse({ ...failed, data: { ...failed.data, failedStep: 'teleport' } })).toThrow(ContractViolationError);
    const step = anEvent('DrillStepCompleted', { data: aDrillStepCompletedData() });
    expect(() => continuityEvents.parse({ ...step, data: { ...step.data, outcome: 'maybe' } })).toThrow(ContractViolationError);
  });

  it('bounds what a publisher can make large: checks and reasons', () => {
    const step = anEvent('DrillStepCompleted', { data: aDrillStepCompletedData() });
    const many = Array.from({ length: 101 }, (_, i) => ({ name: `c${i}`, ok: true, detail: '' }));
    expect(() => continuityEvents.parse({ ...step, data: { ...step.data, checks: many } })).toThrow(ContractViolationError);
    expect(() => continuityEvents.parse({ ...step, data: { ...step.data, reason: 'x'.repeat(5_000) } })).toThrow(ContractViolationError);
  });
});
