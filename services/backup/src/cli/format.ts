/** Human-readable bytes: 1536 → "1.5 KiB". */
export const formatBytes = (n: number | null | undefined): string => {
  if (n === null || n === undefined) return '?';
  const units = ['B', 'KiB', 'MiB', 'GiB', 'TiB'];
  let value = n;
  let unit = 0;
  while (value >= 1024 && unit < units.length - 1) {
    value /= 1024;
    unit++;
  }
  return unit === 0 ? `${n} B` : `${value.toFixed(value < 10 ? 2 : 1)} ${units[unit]}`;
};

export const table = (rows: string[][]): string => {
  const widths = rows[0]?.map((_, i) => Math.max(...rows.map((r) => (r[i] ?? '').length))) ?? [];
  return rows.map((r) => r.map((cell, i) => (i === r.length - 1 ? cell : cell.padEnd(widths[i]!))).join('  ')).join('\n');
};

/** Phase timings `{ stageMs: 1234, … }` → "stage 1.23 s, …", in their order. */
export const formatPhases = (phases: object): string =>
  Object.entries(phases as Record<string, number>)
    .map(([name, ms]) => `${name.replace(/Ms$/, '')} ${(ms / 1000).toFixed(2)} s`)
    .join(', ');
