import { deadLettersOf } from './dead-letter.metrics.js';

describe('deadLettersOf (the dead-letter gauge’s series)', () => {
  it('reports the dead letters of this service’s consumers only, by consumer', () => {
    const subjects = { 'continuity.dlq.verifier_BackupCreated': 2, 'continuity.dlq.verifier_BackupExpired': 1, 'continuity.dlq.audit_ledger': 5, 'other.dlq.verifier_BackupCreated': 9 };
    expect(deadLettersOf('verifier', 'continuity', subjects)).toEqual([
      { consumer: 'verifier_BackupCreated', count: 2 },
      { consumer: 'verifier_BackupExpired', count: 1 },
    ]);
    expect(deadLettersOf('audit', 'continuity', subjects)).toEqual([{ consumer: 'audit_ledger', count: 5 }]);
    expect(deadLettersOf('backup', 'continuity', subjects)).toEqual([]);
  });
});
