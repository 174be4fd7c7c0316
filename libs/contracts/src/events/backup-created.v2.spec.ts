import { continuityEvents } from '../events.js';
import { anEvent } from '../testing.js';

describe('BackupCreated v2', () => {
  it('reads a v1 event as v2, saying "not stated" for what v1 did not carry', () => {
    const v2 = anEvent('BackupCreated');
    const { policy, plaintext, encryption, threeTwoOne, ...v1Data } = v2.data;
    const v1 = { ...v2, version: 1, data: { ...v1Data, copies: v1Data.copies.map(({ manifestUri, ...copy }) => copy) } };
    expect(continuityEvents.parse(v1)).toEqual({
      ...v2,
      version: 2,
      data: {
        ...v2.data,
        policy: null,
        plaintext: null,
        encryption: null,
        threeTwoOne: null,
        copies: v2.data.copies.map((copy) => ({ ...copy, manifestUri: null })),
      },
    });
  });

  it('carries a 3-2-1 opt-out and encryption', () => {
    const event = anEvent('BackupCreated');
    const data = {
      ...event.data,
      encryption: { format: 'age' as const, recipients: ['age1qyqszqgpqyqszqgpqyqszqgpqyqszqgpqyqszqgpqyqszqgpqyqs3290gq'] },
      threeTwoOne: { compliant: false, resourceSite: 'eu-west-1a', failedRules: ['one-offsite' as const], optOut: 'lab data' },
    };
    expect(continuityEvents.parse({ ...event, data }).data).toEqual(data);
  });

  it('carries a base backup\'s WAL range and identity as an optional field (events without it stay valid)', () => {
    const event = anEvent('BackupCreated');
    const basebackup = { startLsn: '0/2000028', endLsn: '0/2000100', timeline: 1, label: 'continuity-x', pgVersion: '15', systemIdentifier: '7443320958462394381' };
    const data = { ...event.data, method: 'basebackup', basebackup };
    expect(continuityEvents.parse({ ...event, data }).data).toEqual(data);
    expect(continuityEvents.parse(event).data).not.toHaveProperty('basebackup');
    expect(() => continuityEvents.parse({ ...event, data: { ...data, basebackup: { ...basebackup, endLsn: 'end' } } })).toThrow(/endLsn/);
  });
});
