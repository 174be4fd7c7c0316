import { ContractViolationError } from '../errors.js';
import { continuityEvents } from '../events.js';
import { anEvent, aNotificationDeliveredData } from '../testing.js';

describe('NotificationDelivered v1', () => {
  it('is a known type at version 1, published by audit', () => {
    const event = anEvent('NotificationDelivered');
    expect(event).toMatchObject({ version: 1, source: 'audit' });
    expect(continuityEvents.parse(event)).toEqual(event);
  });

  it('names the channel and the outcome, never anything but a known outcome', () => {
    const refused = anEvent('NotificationDelivered', { data: aNotificationDeliveredData({ outcome: 'refused', httpStatus: 400, reason: 'HTTP 400' }) });
    expect(continuityEvents.parse(refused).data).toMatchObject({ outcome: 'refused', httpStatus: 400 });
    expect(() => continuityEvents.parse({ ...refused, data: { ...refused.data, outcome: 'maybe' } })).toThrow(ContractViolationError);
    expect(() => continuityEvents.parse({ ...refused, data: { ...refused.data, attempts: 0 } })).toThrow(ContractViolationError);
    expect(() => continuityEvents.parse({ ...refused, data: { ...refused.data, channel: '' } })).toThrow(ContractViolationError);
  });
});
