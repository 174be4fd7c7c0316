/**
 * Small helpers shared by the benchmarks in `bench/`. Every benchmark measures the project and its
 * physical baseline in the same run and prints, as its LAST stdout line, one JSON object with at
 * least `{ bench, value, baseline, ratio }` (see DESIGN.md, "Performance").
 */

export interface BenchResult {
  bench: string;
  /** The project's figure (higher is better unless the benchmark says otherwise). */
  value: number;
  /** The physical baseline's figure, measured in the same run. */
  baseline: number;
  /** Anything else worth recording: `events`, `rounds`, `unit`, … */
  [extra: string]: unknown;
}

/** `value / baseline` rounded to 3 decimals (0 when the baseline is 0). */
export const ratioOf = (value: number, baseline: number): number => (baseline > 0 ? round(value / baseline, 3) : 0);

export const round = (x: number, decimals = 0): number => {
  const f = 10 ** decimals;
  return Math.round(x * f) / f;
};

/**
 * Prints the result line: `{"bench", "value", "baseline", "ratio", ...extra}`. Call it last: the
 * convention is that it is the final line on stdout, so nothing may be written to stdout after it
 * (progress goes to stderr via `progress`).
 */
export const printResult = (result: BenchResult & { ratio?: number }): void => {
  const { bench, value, baseline, ratio, ...extra } = result;
  const line = { bench, value, baseline, ratio: ratio ?? ratioOf(value, baseline), ...extra };
  process.stdout.write(`${JSON.stringify(line)}\n`);
};

/** A progress line on stderr (keeps stdout's last line the result). */
export const progress = (message: string): void => {
  process.stderr.write(`${message}\n`);
};

/** Nearest-rank percentile (p in [0, 100]) of unsorted values; NaN for none. */
export const percentile = (values: readonly number[], p: number): number => {
  if (values.length === 0) return Number.NaN;
  const sorted = [...values].sort((a, b) => a - b);
  const rank = Math.ceil((Math.min(100, Math.max(0, p)) / 100) * sorted.length);
  return sorted[Math.max(0, rank - 1)]!;
};

/** Median (mean of the middle two for an even count); NaN for none. */
export const median = (values: readonly number[]): number => {
  if (values.length === 0) return Number.NaN;
  const sorted = [...values].sort((a, b) => a - b);
  const mid = sorted.length >> 1;
  return sorted.length % 2 ? sorted[mid]! : (sorted[mid - 1]! + sorted[mid]!) / 2;
};

/** Runs `fn` and returns its result with the elapsed wall time in milliseconds. */
export const timeit = async <T>(fn: () => T | Promise<T>): Promise<{ result: T; ms: number }> => {
  const started = performance.now();
  const result = await fn();
  return { result, ms: performance.now() - started };
};

/** Items per second for `count` items in `ms` milliseconds. */
export const perSecond = (count: number, ms: number): number => (ms > 0 ? (count * 1000) / ms : 0);

/**
 * A positive integer option: `--name N` or `--name=N` on the command line, else the environment
 * variable, else the default. Throws naming the option when the value is not a positive integer.
 */
export const intOption = (name: string, env: string | undefined, fallback: number, argv: readonly string[] = process.argv.slice(2)): number => {
  const flag = `--${name}`;
  let raw: string | undefined;
  for (let i = 0; i < argv.length; i++) {
    const arg = argv[i]!;
    if (arg === flag) {
      raw = argv[i + 1];
      if (raw === undefined) throw new Error(`${flag} needs a value`);
    }
    else if (arg.startsWith(`${flag}=`)) raw = arg.slice(flag.length + 1);
  }
  let source = flag;
  if (raw === undefined && env !== undefined && process.env[env] !== undefined && process.env[env] !== '') {
    raw = process.env[env];
    source = env;
  }
  if (raw === undefined) return fallback;
  const value = Number(raw);
  if (!Number.isInteger(value) || value <= 0) throw new Error(`${source} must be a positive integer, got ${JSON.stringify(raw)}`);
  return value;
};

/**
 * Runs `task(i)` for i in [0, count) with at most `inFlight` promises pending at once, in windows:
 * start `inFlight`, await them all, start the next window. Rejects on the first failure.
 */
export const inWindows = async (count: number, inFlight: number, task: (i: number) => Promise<unknown>): Promise<void> => {
  for (let start = 0; start < count; start += inFlight) {
    const end = Math.min(count, start + inFlight);
    const window: Promise<unknown>[] = new Array(end - start);
    for (let i = start; i < end; i++) window[i - start] = task(i);
    await Promise.all(window);
  }
};

/** Rejects after `ms` with `what` unless `promise` settles first (the timer never keeps the process alive). */
export const withTimeout = <T>(promise: Promise<T>, ms: number, what: () => string): Promise<T> => {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`timed out after ${ms} ms: ${what()}`)), ms);
    timer.unref();
  });
  return Promise.race([promise, timeout]).finally(() => clearTimeout(timer));
};
