/** Number and table formatting for human output. */
export function fmt(x: number | null | undefined, digits = 4): string {
  if (x === null || x === undefined) return '—';
  if (x === 0) return '0';
  const a = Math.abs(x);
  if (a >= 1e5 || a < 1e-3) return x.toExponential(digits - 1);
  return x.toPrecision(digits);
}

export function table(head: string[], rows: string[][]): string {
  const w = head.map((h, i) => Math.max(h.length, ...rows.map((r) => (r[i] ?? '').length)));
  const line = (r: string[]) => r.map((c, i) => (i === 0 ? c.padEnd(w[i]) : c.padStart(w[i]))).join('  ');
  return [line(head), w.map((x) => '-'.repeat(x)).join('  '), ...rows.map(line)].join('\n');
}

/** Indices to show for a long profile: first 4, last 4 and ~12 evenly spaced. */
export function sampleIndices(n: number, all = false): number[] {
  if (all || n <= 24) return Array.from({ length: n }, (_, i) => i);
  const s = new Set<number>();
  for (let i = 0; i < 4; i++) { s.add(i); s.add(n - 1 - i); }
  for (let k = 1; k < 12; k++) s.add(Math.round((k * (n - 1)) / 12));
  return [...s].sort((a, b) => a - b);
}
