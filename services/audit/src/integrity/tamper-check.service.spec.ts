import type { AuditConfig } from '../config/audit.config.js';
import { TamperCheckService, type TamperReport } from './tamper-check.service.js';

/** A check whose runs are held open by the test: each run records when it started and ends when told. */
const heldChecks = () => {
  const service = new TamperCheckService({} as any, { AUDIT_TAMPER_CHECK_INTERVAL_MS: 60_000 } as AuditConfig, {} as any, {} as any, {} as any, {} as any, { register: () => undefined } as any);
  const runs: { finish: (intact: boolean) => void; fail: (error: Error) => void }[] = [];
  jest.spyOn(service as any, 'run').mockImplementation(
    () =>
      new Promise<TamperReport>((resolve, reject) => {
        const n = runs.length + 1;
        runs.push({ finish: (intact) => resolve({ intact, entriesChecked: n } as TamperReport), fail: reject });
      }),
  );
  return { service, runs };
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
});
