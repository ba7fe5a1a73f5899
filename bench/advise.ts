/** advise throughput (issue 5 target: advise for a 1000-layer config ≤ 20 ms). */
import { resolveConfig } from '../src/config.js';
import { advise, calibrate } from '../src/advise.js';
import { predictResolved } from '../src/engine.js';
import type { BenchSection } from './run.js';
import { median, timeIt } from './timing.js';

export async function bench(): Promise<BenchSection> {
  const rows: BenchSection['rows'] = [];
  const notes: string[] = [];
  const base = { layers: 1000, dModel: 1024, heads: 16, dFF: 4096, seqLen: 512, dropout: 0.1, input: { mean: 0, var: 1, r: 0.2 } };
  const variants: [string, Record<string, unknown>][] = [
    ['Pre-LN ReLU', { norm: 'pre', activation: 'relu' }],
    ['Post-LN GeLU', { norm: 'post', activation: 'gelu' }],
  ];
  for (const [name, extra] of variants) {
    const cfg = resolveConfig({ ...base, ...extra });
    const cold = timeIt(() => advise(cfg, { noFormulas: true }), 1)[0];
    const a = advise(cfg, { noFormulas: true });
    const ts = timeIt(() => advise(cfg, { noFormulas: true }), 15);
    const t = median(ts), lo = Math.min(...ts);
    const eng = median(timeIt(() => predictResolved(a.config), 7));
    const cal = median(timeIt(() => calibrate(cfg, a.k ?? 1), 7));
    rows.push({ name: `advise, 1000 layers, ${name} (k = ${a.k?.toPrecision(3)}, ${a.iterations} engine runs, first call ${cold.toFixed(0)} ms)`, value: `${t.toFixed(1)} ms/call (median of 15; fastest ${lo.toFixed(1)})`, target: '≤ 20 ms', pass: t <= 20 });
    rows.push({ name: `  of which: one engine predict of the advised config / one calibration fold`, value: `${eng.toFixed(1)} ms / ${cal.toFixed(1)} ms` });
  }
  notes.push('advise = (calibration fold + engine verification) × iterations; it cannot be faster than one engine predict of the same depth. The calibration fold and the search\'s engine runs use the kernels of the catalogue (no per-stage objects) and compile plans they do not keep (a remembered plan survived young-generation collections and was promoted, ~1.1 MB per scavenge: the median then swung 15–29 ms while the fastest stayed 6–12 ms).');
  return {
    title: 'Init advisor (advise)',
    method: 'in-process, performance.now(); advise without the nerdamer formulas (computed once per process, cached); median of 15 calls (and the fastest) after one cold call on the resolved config.',
    rows,
    notes,
  };
}
