import { config } from '../testing/failover-decider.given.js';
import { InvalidFailoverConfigError, resolveFailoverConfig } from './failover-config.policy.js';

describe('resolveFailoverConfig', () => {
  it('applies the defaults', () => {
    expect(config).toMatchObject({ probeIntervalMs: 500, failuresBeforeFailover: 3, staleAfterMs: 1500 });
  });

  it('lists every problem of an unusable configuration', () => {
    const bad = () =>
      resolveFailoverConfig({
        resource: 'orders-db',
        members: [
          { name: 'pg-a', role: 'standby' },
          { name: 'pg-a', role: 'standby' },
        ],
        failuresBeforeFailover: 0,
        maxLagBytes: -1,
        mode: 'automatic',
      });
    expect(bad).toThrow(InvalidFailoverConfigError);
    expect(bad).toThrow(/duplicate member names: pg-a.*exactly one member must have role 'primary' \(found 0\).*failuresBeforeFailover.*maxLagBytes/);
  });
});
