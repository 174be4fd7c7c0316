import { RestorePointNameSchema } from '@continuity/contracts';
import { nextRestorePointDelay, restorePointName } from './restore-points.js';

describe('restore point names and times', () => {
  it('names a point after its UTC time, to the millisecond, in what PostgreSQL and a recovery target accept', () => {
    const name = restorePointName(new Date('2026-12-01T00:55:00.123Z'));
    expect(name).toBe('continuity_20261201T005500123Z');
    expect(RestorePointNameSchema.parse(name)).toBe(name);
    expect(name.length).toBeLessThan(64);
  });

  it('creates points at multiples of the interval since the epoch', () => {
    const at = Date.parse('2026-12-01T00:53:20.000Z');
    expect(nextRestorePointDelay(at, 300_000)).toBe(100_000); // 00:55:00
    expect(nextRestorePointDelay(Date.parse('2026-12-01T00:55:00.000Z'), 300_000)).toBe(300_000);
  });
});
