import type { AuditConfig } from '../config/audit.config.js';
import { TAMPER_CHECK_FIRST_RETRY_MS, TAMPER_CHECK_MAX_RETRY_MS, TamperCheckService, type TamperReport } from './tamper-check.service.js';

/** A check whose runs are held open by the test: each run records when it started and ends when told. */
const heldChecks = (interval = 60_000) => {
  let readiness: () => Promise<{ status: string; error?: string }> = async () => ({ status: 'unregistered' });
  const register = (_name: string, check: typeof readiness) => (readiness = check);
  const service = new TamperCheckService({} as any, { AUDIT_TAMPER_CHECK_INTERVAL_MS: interval } as AuditConfig, {} as any, {} as any, {} as any, {} as any, { register } as any);
  const runs: { finish: (intact: boolean) => void; fail: (error: Error) => void }[] = [];
  jest.spyOn(service as any, 'run').mockImplementation(
    () =>
      new Promise<TamperReport>((resolve, reject) => {
        const n = runs.length + 1;
        runs.push({
          finish: (intact) => {
            (service as any).last = { intact, entriesChecked: n, findings: [], checkedAt: `check ${n}` };
            resolve(service.last!);
          },
          fail: reject,
        });
      }),
  );
  return { service, runs, ready: () => readiness() };
};

const settled = () => new Promise((resolve) => setImmediate(resolve));

describe('TamperCheckService.check', () => {
  it('a check asked for while another runs gets a run that starts after it, not that run’s (older) report', async () => {
    const { service, runs } = heldChecks();
    const first = service.check();
    // Rows are changed now, while the first run may already have read them; then a check is asked for.
    const second = service.check();
    const third = service.check();
    expect(runs).toHaveLength(1);

    runs[0]!.finish(true);
    expect(await first).toMatchObject({ intact: true, entriesChecked: 1 });
    await settled();
    // The requests made meanwhile share one fresh run.
    expect(runs).toHaveLength(2);
    runs[1]!.finish(false);
    expect(await second).toMatchObject({ intact: false, entriesChecked: 2 });
    expect(await third).toBe(await second);
  });

  it('a failed run does not stop the one asked for after it', async () => {
    const { service, runs } = heldChecks();
    const first = service.check();
    const second = service.check();
    runs[0]!.fail(new Error('connection refused'));
    await expect(first).rejects.toThrow('connection refused');
    await settled();
    runs[1]!.finish(true);
    expect(await second).toMatchObject({ intact: true, entriesChecked: 2 });
  });

  it('with nothing running, a check starts at once', async () => {
    const { service, runs } = heldChecks();
    const done = service.check();
    expect(runs).toHaveLength(1);
    runs[0]!.finish(true);
    await done;
    void service.check();
    expect(runs).toHaveLength(2);
  });

  it('a run that fails to finish is a readiness warning saying why, until a run finishes (not "down": nothing was found)', async () => {
    const { service, runs, ready } = heldChecks();
    const first = service.check();
    runs[0]!.finish(true);
    await first;
    expect(await ready()).toEqual({ status: 'up' });

    const failed = service.check();
    runs[1]!.fail(new Error('terminating connection due to administrator command'));
    await expect(failed).rejects.toThrow('administrator command');
    expect(service.failure).toMatchObject({ error: 'terminating connection due to administrator command' });
    expect(await ready()).toMatchObject({ status: 'up', warning: expect.stringMatching(/failed to run at .*administrator command.*the last complete check is from check 1/) });

    const next = service.check();
    runs[2]!.finish(true);
    await next;
    expect(service.failure).toBeNull();
    expect(await ready()).toEqual({ status: 'up' });
  });
});

describe('TamperCheckService schedule', () => {
  afterEach(() => jest.useRealTimers());

  it('retries a scheduled check that failed to run, backing off, until one runs', async () => {
    jest.useFakeTimers({ doNotFake: ['setImmediate'] });
    const { service, runs, ready } = heldChecks();
    service.onApplicationBootstrap();
    expect(runs).toHaveLength(1);
    runs[0]!.fail(new Error('connect ECONNREFUSED 127.0.0.1:5432'));
    await settled();
    expect(await ready()).toMatchObject({ status: 'up', warning: expect.stringContaining('no check has completed yet') });

    jest.advanceTimersByTime(TAMPER_CHECK_FIRST_RETRY_MS - 1);
    expect(runs).toHaveLength(1);
    jest.advanceTimersByTime(1);
    expect(runs).toHaveLength(2);
    runs[1]!.fail(new Error('connect ECONNREFUSED 127.0.0.1:5432'));
    await settled();
    // Backs off: twice as long before the third try.
    jest.advanceTimersByTime(2 * TAMPER_CHECK_FIRST_RETRY_MS - 1);
    expect(runs).toHaveLength(2);
    jest.advanceTimersByTime(1);
    expect(runs).toHaveLength(3);
    runs[2]!.finish(true);
    await settled();
    expect(await ready()).toEqual({ status: 'up' });

    /** A check asked for, whose run (the `n`th) fails with `message`. */
    const failAsked = async (n: number, message: string) => {
      const asked = service.check();
      runs[n]!.fail(new Error(message));
      await expect(asked).rejects.toThrow(message);
    };
    // One asked for that fails is retried too, after the first delay again (the success reset it).
    await failAsked(3, 'terminating connection due to administrator command');
    jest.advanceTimersByTime(TAMPER_CHECK_FIRST_RETRY_MS);
    expect(runs).toHaveLength(5);
    runs[4]!.finish(true);
    await settled();
    expect(await ready()).toEqual({ status: 'up' });

    // A success cancels a retry still pending: no extra full check.
    await failAsked(5, 'Connection terminated');
    const asked2 = service.check();
    runs[6]!.finish(true);
    await asked2;
    jest.advanceTimersByTime(2 * TAMPER_CHECK_FIRST_RETRY_MS); // (the scheduled interval is further off)
    expect(runs).toHaveLength(7);

    // Stopped: a failure then schedules nothing.
    service.onModuleDestroy();
    await failAsked(7, 'Connection terminated');
    jest.advanceTimersByTime(60_000);
    expect(runs).toHaveLength(8);
  });

  it('backs off to at most a minute, so a long outage delays the first check after it by no more', async () => {
    jest.useFakeTimers({ doNotFake: ['setImmediate'] });
    const { service, runs } = heldChecks(600_000);
    service.onApplicationBootstrap();
    const delays: number[] = [];
    for (let i = 0; i < 8; i++) {
      runs[i]!.fail(new Error('connect ECONNREFUSED 127.0.0.1:5432'));
      await settled();
      let waited = 0;
      while (runs.length === i + 1) {
        jest.advanceTimersByTime(1_000);
        waited += 1_000;
      }
      delays.push(waited);
    }
    expect(TAMPER_CHECK_MAX_RETRY_MS).toBe(60_000);
    expect(delays).toEqual([5_000, 10_000, 20_000, 40_000, 60_000, 60_000, 60_000, 60_000]);
    service.onModuleDestroy();
  });
});
