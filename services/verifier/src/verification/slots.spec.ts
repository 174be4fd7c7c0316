import { Slots } from './slots.js';

describe('Slots', () => {
  it('lets `size` run at once and serves waiters by priority, then arrival', async () => {
    const slots = new Slots(2);
    const order: string[] = [];
    const a = await slots.acquire(0);
    const b = await slots.acquire(1);
    const waiting = [
      slots.acquire(1).then((release) => (order.push('scrub-1'), release)),
      slots.acquire(0).then((release) => (order.push('new-1'), release)),
      slots.acquire(1).then((release) => (order.push('scrub-2'), release)),
      slots.acquire(0).then((release) => (order.push('new-2'), release)),
    ];
    expect(slots.queued).toBe(4);
    a();
    a(); // releasing twice frees one slot only
    const first = await waiting[1]!;
    b();
    const second = await waiting[3]!;
    expect(order).toEqual(['new-1', 'new-2']);
    first();
    second();
    (await waiting[0]!)();
    (await waiting[2]!)();
    expect(order).toEqual(['new-1', 'new-2', 'scrub-1', 'scrub-2']);
    expect(slots.busy).toBe(0);
  });

  it('gives up waiting when aborted', async () => {
    const slots = new Slots(1);
    await slots.acquire(0);
    const controller = new AbortController();
    const waiting = slots.acquire(0, controller.signal);
    controller.abort(new Error('stopping'));
    await expect(waiting).rejects.toThrow('stopping');
    expect(slots.queued).toBe(0);
  });
});
