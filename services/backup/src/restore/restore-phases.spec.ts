import { recoveryPhases } from './restore-phases.js';

describe('the phases of a point-in-time restore', () => {
  it('reports each measured phase and the rest as other', () => {
    expect(recoveryPhases(10_000, { stageMs: 4_000, verifyMs: 1_500 }, 2_000, 800)).toEqual({ stageMs: 4_000, verifyMs: 1_500, startMs: 2_000, recoveryMs: 800, otherMs: 1_700 });
  });

  it('counts a base restore without phases as nothing and never reports negative time', () => {
    expect(recoveryPhases(1_000, null, 600, 300)).toEqual({ stageMs: 0, verifyMs: 0, startMs: 600, recoveryMs: 300, otherMs: 100 });
    expect(recoveryPhases(1_000, { stageMs: 900, verifyMs: 200 }, 0, 0).otherMs).toBe(0);
  });
});
