/** Timing helpers shared by the benchmark modules. */
export function median(a: number[]): number { const s = [...a].sort((x, y) => x - y); return s[Math.floor(s.length / 2)]; }

/** Wall time (ms) of each of `reps` calls. */
export function timeIt(f: () => void, reps: number): number[] {
  const t: number[] = [];
  for (let i = 0; i < reps; i++) { const t0 = performance.now(); f(); t.push(performance.now() - t0); }
  return t;
}
