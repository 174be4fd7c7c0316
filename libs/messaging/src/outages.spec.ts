import { Outages } from './outages.js';

const pollFor = async (condition: () => boolean) => {
  for (let i = 0; i < 100 && !condition(); i++) await new Promise((resolve) => setTimeout(resolve, 5));
};

const settled = async <T>(promise: Promise<T>, ms = 50) =>
  Promise.race([promise.then(() => 'resolved' as const), new Promise<'pending'>((resolve) => setTimeout(() => resolve('pending'), ms))]);

describe('Outages', () => {
  it('holds handlers while a probed dependency is down and releases them when its probe answers', async () => {
    let up = false;
    const changes: string[] = [];
    const outages = new Outages({
      probes: { postgres: async () => { if (!up) throw new Error('connect ECONNREFUSED'); } },
      probeIntervalMs: 10,
      onChange: (c) => changes.push(`${c.dependency} ${c.state}`),
      now: () => Date.parse('2026-11-30T10:00:00Z'),
    });
    expect(outages.isBlocked()).toBe(false);
    outages.report('postgres', 'connect ECONNREFUSED 127.0.0.1:5432');
    outages.report('postgres', 'still refused');
    expect(outages.current()).toEqual([{ dependency: 'postgres', since: '2026-11-30T10:00:00.000Z', reason: 'still refused', failures: 2 }]);
    const waiting = outages.whenClear();
    expect(await settled(waiting)).toBe('pending');
    expect(outages.current()[0]!.reason).toContain('(probe: connect ECONNREFUSED)');
    up = true;
    expect(await settled(waiting, 1_000)).toBe('resolved');
    expect(outages.current()).toEqual([]);
    expect(changes).toEqual(['postgres down', 'postgres up']);
    outages.close();
  });

  it('does not hold handlers for a dependency it cannot probe; the next success ends that outage', async () => {
    const outages = new Outages({ probes: {} });
    outages.report('network', 'connect ETIMEDOUT 10.0.0.7:443');
    expect(outages.isBlocked()).toBe(false);
    expect(await settled(outages.whenClear())).toBe('resolved');
    expect(outages.current()).toHaveLength(1);
    outages.succeeded();
    expect(outages.current()).toEqual([]);
  });

  it('waits the back-off, cut short when the dependency returns or the transport stops', async () => {
    let up = false;
    const outages = new Outages({ probes: { postgres: async () => { if (!up) throw new Error('down'); } }, probeIntervalMs: 10 });
    outages.report('postgres', 'down');
    const retry = outages.waitToRetry(60_000);
    up = true;
    expect(await settled(retry, 1_000)).toBe('resolved');
    outages.report('postgres', 'down again');
    up = false;
    const stopped = outages.waitToRetry(60_000);
    outages.close();
    expect(await settled(stopped)).toBe('resolved');
  });
  it('blames a socket error that names no address on the probed dependency that is down', async () => {
    const outages = new Outages({ probes: { postgres: async () => { throw new Error('connect ECONNREFUSED'); }, nats: async () => undefined }, probeIntervalMs: 10 });
    outages.report('network', 'read ECONNRESET');
    await pollFor(() => outages.current().length > 0);
    expect(outages.current()).toEqual([expect.objectContaining({ dependency: 'postgres', reason: 'read ECONNRESET (probe: connect ECONNREFUSED)' })]);
    expect(outages.isBlocked()).toBe(true);
    outages.close();
  });

  it('calls it the network when every probe answers', async () => {
    const outages = new Outages({ probes: { postgres: async () => undefined } });
    outages.report('network', 'read ECONNRESET');
    await pollFor(() => outages.current().length > 0);
    expect(outages.current()).toEqual([expect.objectContaining({ dependency: 'network', reason: 'read ECONNRESET' })]);
    expect(outages.isBlocked()).toBe(false);
    outages.close();
  });
});
