import { standbyLag } from './standby-lag.js';

describe('standbyLag (pure: the latest probes in, bytes behind out)', () => {
  it('reports how far each reachable standby’s replay is behind the primary’s current LSN', () => {
    expect(
      standbyLag('pg-a', [
        { name: 'pg-a', observation: { reachable: true, currentLsn: '0/3000100' } },
        { name: 'pg-b', observation: { reachable: true, replayLsn: '0/3000000' } },
        { name: 'pg-c', observation: { reachable: true, replayLsn: '0/3000100' } },
      ]),
    ).toEqual([
      { member: 'pg-b', bytes: 256 },
      { member: 'pg-c', bytes: 0 },
    ]);
  });

  it('reports nothing it cannot measure: a primary or standby the probes could not reach', () => {
    expect(standbyLag('pg-a', [{ name: 'pg-a', observation: { reachable: false } }, { name: 'pg-b', observation: { reachable: true, replayLsn: '0/1' } }])).toEqual([]);
    expect(standbyLag('pg-a', [{ name: 'pg-a', observation: { reachable: true, currentLsn: '0/10' } }, { name: 'pg-b', observation: null }])).toEqual([]);
  });
});
