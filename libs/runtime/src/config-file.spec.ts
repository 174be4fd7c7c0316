import { z } from 'zod';
import { ConfigFileError, ConfigProblem, parseYamlConfig, zodProblems } from './config-file.js';

class TestConfigError extends ConfigFileError {
  override readonly code = 'TEST.CONFIG_INVALID';
}
const fail = (file: string, problems: ConfigProblem[]) => new TestConfigError(file, problems);

describe('YAML configuration files', () => {
  const text = 'resources:\n  orders:\n    kind: postgres\n    sitee: a\npolicies:\n  nightly:\n    copies: [a, 3]\n';
  const schema = z.strictObject({
    resources: z.record(z.string(), z.strictObject({ kind: z.enum(['postgres', 'directory']), site: z.string() })),
    policies: z.record(z.string(), z.object({ copies: z.array(z.string()) })),
  });

  it('names every problem with its dotted key and line', () => {
    const yaml = parseYamlConfig('/etc/c.yaml', text, fail);
    const parsed = schema.safeParse(yaml.raw);
    expect(parsed.success).toBe(false);
    const problems = zodProblems(parsed.error!.issues, yaml);
    expect(problems).toEqual(
      expect.arrayContaining([
        { key: 'resources.orders.sitee', message: 'unknown key', line: 4 },
        { key: 'resources.orders.site', message: expect.any(String), line: 3 }, // where the orders mapping starts
        { key: 'policies.nightly.copies.1', message: expect.any(String), line: 7 },
      ]),
    );
    const error = fail('/etc/c.yaml', problems);
    expect(error.message).toContain('resources.orders.sitee (line 4): unknown key');
    expect(error.code).toBe('TEST.CONFIG_INVALID');
  });

  it('reports broken YAML and duplicate keys with their line', () => {
    expect(() => parseYamlConfig('/etc/c.yaml', 'a: 1\na: 2\n', fail)).toThrow(/\(yaml\) \(line 2\)/);
    expect(() => parseYamlConfig('/etc/c.yaml', 'a: [1, 2\n', fail)).toThrow(TestConfigError);
  });

  it('places problems of a section under its key', () => {
    const yaml = parseYamlConfig('/etc/c.yaml', 'failover:\n  modee: auto\n', fail);
    const parsed = z.strictObject({}).safeParse((yaml.raw as { failover: unknown }).failover);
    expect(zodProblems(parsed.error!.issues, yaml, { at: (p) => ['failover', ...p] })).toEqual([{ key: 'failover.modee', message: 'unknown key', line: 2 }]);
  });
});
