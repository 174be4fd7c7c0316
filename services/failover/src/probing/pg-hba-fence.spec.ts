import { hasFence, unquotableRole, withFence, withoutFence } from './pg-hba-fence.js';

const original = ['# TYPE  DATABASE        USER            ADDRESS                 METHOD', 'local   all             all                                     trust', 'host\tall\tall\t127.0.0.1/32\tscram-sha-256', ''].join('\n');

describe('the fence block in pg_hba.conf', () => {
  it('puts reject rules for each role first, quoted, leaving the rest of the file as it was', () => {
    const fenced = withFence(original, ['app', 'all', '+ops'], 'fenced at epoch 2');
    const lines = fenced.split('\n');
    expect(lines[0]).toBe('# continuity-fence begin: fenced at epoch 2');
    expect(lines.filter((l) => !l.startsWith('#')).slice(0, 6)).toEqual([
      'local all "app" reject',
      'host all "app" all reject',
      'local all "all" reject',
      'host all "all" all reject',
      'local all "+ops" reject',
      'host all "+ops" all reject',
    ]);
    expect(fenced.endsWith(original)).toBe(true);
    expect(hasFence(fenced)).toBe(true);
  });

  it('is removed exactly, and replaced rather than stacked when fenced again', () => {
    const once = withFence(original, ['app'], 'epoch 1');
    const twice = withFence(once, ['app', 'reporting'], 'epoch 2');
    expect(twice.match(/continuity-fence begin/g)).toHaveLength(1);
    expect(twice).toContain('"reporting"');
    expect(withoutFence(twice)).toBe(original);
    expect(withoutFence(original)).toBe(original);
    expect(hasFence(original)).toBe(false);
  });

  it('keeps the line of its reason on one line', () => {
    expect(withFence(original, [], 'a\nb').split('\n')[0]).toBe('# continuity-fence begin: a b');
  });

  it('leaves a block whose end marker is gone alone rather than guessing where it ended', () => {
    const broken = `# continuity-fence begin: x\nlocal all "app" reject\n${original}`;
    expect(withoutFence(broken)).toBe(broken);
  });

  it('refuses role names pg_hba.conf cannot express', () => {
    expect(unquotableRole('app')).toBeNull();
    expect(unquotableRole('we"ird')).toMatch(/double quote/);
    expect(unquotableRole('a\nb')).toMatch(/line break/);
  });
});
