import { ContractViolationError } from '../errors.js';
import { continuityEvents } from '../events.js';
import { anEvent, aRiskIdentifiedData, aRiskResolvedData } from '../testing.js';

describe('RiskIdentified v1 / RiskResolved v1', () => {
  it('are known types at version 1, published by audit', () => {
    for (const type of ['RiskIdentified', 'RiskResolved'] as const) {
      const event = anEvent(type);
      expect(event).toMatchObject({ version: 1, source: 'audit' });
      expect(continuityEvents.parse(event)).toEqual(event);
    }
  });

  it('refuse a rule id that is not a token, an unknown severity and an empty mitigation', () => {
    const event = anEvent('RiskIdentified', { data: aRiskIdentifiedData() });
    expect(() => continuityEvents.parse({ ...event, data: { ...event.data, rule: 'Three Two One; drop table' } })).toThrow(ContractViolationError);
    expect(() => continuityEvents.parse({ ...event, data: { ...event.data, severity: 'apocalyptic' } })).toThrow(ContractViolationError);
    expect(() => continuityEvents.parse({ ...event, data: { ...event.data, mitigation: '' } })).toThrow(ContractViolationError);
    expect(() => continuityEvents.parse({ ...event, data: { ...event.data, summary: 'x'.repeat(4097) } })).toThrow(ContractViolationError);
    const resolved = anEvent('RiskResolved', { data: aRiskResolvedData() });
    expect(() => continuityEvents.parse({ ...resolved, data: { ...resolved.data, riskId: 'not-a-uuid' } })).toThrow(ContractViolationError);
  });
});
