/** predict and component throughput (issue targets: 1000-layer predict ≤ 0.5 ms; 10k component ≤ 1 s). */
import { predictResolved } from '../src/engine.js';
import { resolveConfig } from '../src/config.js';
import { component } from '../src/component.js';
import type { BenchSection } from './run.js';
import { median, timeIt } from './timing.js';

export async function bench(): Promise<BenchSection> {
  const rows: BenchSection['rows'] = [];
  const base = { layers: 1000, dModel: 1024, heads: 16, dFF: 4096, seqLen: 512, dropout: 0.1, input: { mean: 0, var: 1, r: 0.2 } };
  const variants: [string, Record<string, unknown>][] = [
    ['Pre-LN ReLU', { norm: 'pre', activation: 'relu' }],
    ['Post-LN GeLU', { norm: 'post', activation: 'gelu' }],
    ['Pre-RMSNorm SwiGLU causal', { norm: 'pre', normKind: 'rmsnorm', activation: 'swiglu', causal: true, dropout: 0 }],
    ['DeepScaleLM λ/β, ReLU', { norm: 'pre', activation: 'relu', residual: { skip: Math.sqrt(1 - 1 / 1000), branch: Math.sqrt(1 / 1000) } }],
  ];
  for (const [name, extra] of variants) {
    const cfg = resolveConfig({ ...base, ...extra });
    const cold = timeIt(() => predictResolved(cfg), 1)[0];
    // causal configs take the position-resolved fold (~1 s per call): fewer repetitions
    const slow = cfg.causal, warm = slow ? 2 : 20, reps = slow ? 7 : 200;
    timeIt(() => predictResolved(cfg), warm); // warm-up (JIT, quadrature caches)
    const ts = timeIt(() => predictResolved(cfg), reps);
    const t = median(ts), lo = Math.min(...ts);
    rows.push({ name: `predict, 1000 layers, ${name} (first call ${cold.toFixed(0)} ms)`, value: `${t.toFixed(3)} ms/call (median of ${reps}; fastest ${lo.toFixed(3)})`, target: '≤ 0.5 ms', pass: t <= 0.5 });
  }
  // 10,000 component requests: a mix of every block
  const reqs: unknown[] = [];
  const blocks = [
    { block: 'linear', params: { dIn: 512, dOut: 2048, std: 0.02 } },
    { block: 'relu', params: {} }, { block: 'gelu', params: {} }, { block: 'gelu_tanh', params: {} }, { block: 'silu', params: {} },
    { block: 'layernorm', params: { d: 512 } }, { block: 'rmsnorm', params: { d: 512 } }, { block: 'dropout', params: { p: 0.1 } },
    { block: 'softmax', params: { n: 128 } },
    { block: 'attention', params: { dModel: 512, heads: 8, stdQ: 0.05, stdK: 0.05, stdV: 0.04, stdO: 0.04, seqLen: 128 } },
    { block: 'ffn', params: { dModel: 512, dFF: 2048, activation: 'relu', std1: 0.02, std2: 0.02, dropout: 0.1 } },
  ];
  for (let i = 0; i < 10_000; i++) {
    const b = blocks[i % blocks.length];
    reqs.push({ ...b, input: { mean: 0, var: 0.5 + (i % 7) * 0.25, r: ((i * 37) % 90) / 100 }, grad: { var: 1, r: 0.1 } });
  }
  const run = () => { for (const r of reqs) component(r); };
  const cold = timeIt(run, 1)[0];
  const warm = median(timeIt(run, 3));
  rows.push({ name: `10,000 component requests (mixed blocks, ${blocks.length} kinds, 7×90 input grid), cold`, value: `${(cold / 1000).toFixed(3)} s`, target: '≤ 1 s', pass: cold <= 1000 });
  rows.push({ name: '10,000 component requests, warm (quadrature caches filled)', value: `${(warm / 1000).toFixed(3)} s`, target: '≤ 1 s', pass: warm <= 1000 });
  const notes = [
    'Where a 1000-layer non-causal predict spends its time (V8 CPU profile, Pre-LN ReLU): ~25 % garbage collection (each block returns fresh moment objects and its forward results live until the backward pass), ~35 % the fold itself (one megamorphic block call per stage and direction, ~18 stage calls per layer), ~40 % the formulas (attention ~15 %: the softmax moments by cubic interpolation on the ln-v grid and the row-correlation table; activation memo lookups; norms, linears, dropout). Changes since the 2026-11-26 12:46 run: one softmax stencil and no closure per attention call (4.1 → 0.6 µs), a fold without per-stage trace objects, fixed-shape moment objects. That run measured 15.9 / 22.2 ms (Pre-LN ReLU / Post-LN GeLU, median; harness reference pass 0.76 s on one thread) — compare the table above and the harness pass below for how loaded the machine was this time.',
    'The 0.5 ms target means ~250 ns per layer for forward and backward together; the formulas alone take ~0.8 µs per layer, so meeting it would need a different representation (allocation-free kernels over typed arrays), not tuning of the present one. Causal configs use a position-resolved kernel over token pairs (seqLen² state per layer), orders of magnitude more work per layer.',
  ];
  return {
    notes,
    title: 'Theory engine: predict and component',
    method: 'in-process, performance.now(); predict: median of 200 calls after 20 warm-up calls on the resolved config (quadrature memo caches warm; causal: 7 calls after 2), with the fastest call (the machine is shared, so medians carry other tenants\' load); component: whole batch through the validating API, first run (cold) and median of 3 (warm).',
    rows,
  };
}
