import { checkThreeTwoOne } from './three-two-one.policy.js';

const resource = { name: 'orders-db', site: 'eu-west-1a' };
const copy = (location: string, site: string, medium: string) => ({ location, site, medium });

describe('checkThreeTwoOne', () => {
  it('passes 3 copies on 2 media with one off-site', () => {
    expect(checkThreeTwoOne(resource, [copy('a', 'eu-west-1a', 'disk'), copy('b', 'eu-west-1a', 'disk'), copy('c', 'eu-central-1', 'object')])).toEqual([]);
  });

  it('names every failing rule', () => {
    const failed = checkThreeTwoOne(resource, [copy('a', 'eu-west-1a', 'disk'), copy('b', 'eu-west-1a', 'disk')]);
    expect(failed.map((f) => f.rule)).toEqual(['three-copies', 'two-media', 'one-offsite']);
    expect(failed[0]!.message).toBe('needs at least 3 copies, has 2 (a, b)');
    expect(failed[1]!.message).toBe('needs at least 2 media, every copy is on disk');
    expect(failed[2]!.message).toBe("needs at least 1 copy off orders-db's own site eu-west-1a, every copy is there");
  });

  it('fails only the off-site rule when everything is in the resource site', () => {
    const failed = checkThreeTwoOne(resource, [copy('a', 'eu-west-1a', 'disk'), copy('b', 'eu-west-1a', 'nas'), copy('c', 'eu-west-1a', 'object')]);
    expect(failed.map((f) => f.rule)).toEqual(['one-offsite']);
  });

  it('fails only the media rule when three off-site copies share one medium', () => {
    const failed = checkThreeTwoOne(resource, [copy('a', 'x', 'disk'), copy('b', 'y', 'disk'), copy('c', 'z', 'disk')]);
    expect(failed.map((f) => f.rule)).toEqual(['two-media']);
  });

  it('fails everything for no copies', () => {
    expect(checkThreeTwoOne(resource, []).map((f) => f.rule)).toEqual(['three-copies', 'two-media', 'one-offsite']);
  });
});
