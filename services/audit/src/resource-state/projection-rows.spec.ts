import { dump, entry, fold, resetLog, verdict, walShipment } from '../../test/findings-fixtures.js';
import { MAX_RETAINED } from './protection.projection.js';
import { stateText } from './projection-rows.js';
import { ResourceState } from './resource-state.projection.js';

const asJson = (state: ResourceState) => JSON.parse(JSON.stringify(state));

describe('projection rows', () => {
  beforeEach(resetLog);

  it('given states with no protection, an empty retained list, and a full one, when written, then each text is the JSON value JSON.stringify gives', () => {
    const walOnly = fold([entry('WalArchived', walShipment(5, 1), 5)]);
    const backups = Array.from({ length: MAX_RETAINED + 3 }, (_, i) => dump(i));
    const full = fold(backups.map((b, i) => entry('BackupCreated', b, i)));
    expect(full.protection!.retained).toHaveLength(MAX_RETAINED);
    expect(walOnly.protection!.retained).toHaveLength(0);
    for (const state of [walOnly, full, { ...full, protection: undefined }]) expect(JSON.parse(stateText(state))).toEqual(asJson(state));
  });

  it('given a retained backup a verdict changed after its text was made, when written again, then the text holds the change (never a stale text)', () => {
    const backups = [dump(0), dump(1), dump(2)];
    const before = fold(backups.map((b, i) => entry('BackupCreated', b, i)));
    expect(JSON.parse(stateText(before))).toEqual(asJson(before));
    const after = fold([entry('IntegrityVerified', verdict(backups[1]!, ['nas']), 5)], before);
    const written = JSON.parse(stateText(after));
    expect(written).toEqual(asJson(after));
    expect(written.protection.retained[1].badCopies).toEqual(['nas']);
    expect(written.protection.retained[0]).toEqual(asJson(before).protection.retained[0]);
  });
});
