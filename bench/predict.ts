/** predict and component throughput (issue targets: 1000-layer predict ≤ 0.5 ms; 10k component ≤ 1 s). */
import { predictResolved } from '../src/engine.js';
import { resolveConfig } from '../src/config.js';
import { component } from '../src/component.js';
import type { BenchSection } from './run.js';
import { median, timeIt } from './timing.js';
import { spawnSync } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { COMPONENT_KINDS, componentRequests } from './component-batch.js';

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
    // warm-up (JIT tiers, quadrature caches): 100 calls and at least 1 s (20 calls left the first
    // configuration measured ~60 % slower than the same stack measured after the others)
    const slow = cfg.causal, warm = slow ? 2 : 100, reps = slow ? 7 : 200;
    const w0 = performance.now();
    do timeIt(() => predictResolved(cfg), warm); while (!slow && performance.now() - w0 < 1000);
    const ts = timeIt(() => predictResolved(cfg), reps);
    const t = median(ts), lo = Math.min(...ts);
    rows.push({ name: `predict, 1000 layers, ${name} (first call ${cold.toFixed(0)} ms)`, value: `${t.toFixed(3)} ms/call (median of ${reps}; fastest ${lo.toFixed(3)})`, target: '≤ 0.5 ms', pass: t <= 0.5 });
  }
  // 10,000 component requests: a mix of every block. Cold: one pass in a fresh process each (this
  // one has run 1000-layer predicts, whose quadrature grid and softmax tables would be warm), at a
  // length whose softmax tables are shipped (128) and at one between them (100: row-correlation tables
  // interpolated, the E[p²], E[p³], Q4 grid computed on first use)
  const coldOf = (len: number): number => {
    const r = spawnSync(process.execPath, [fileURLToPath(new URL('./component-batch.js', import.meta.url)), String(len)], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'inherit'] });
    if (r.status !== 0) throw new Error(`component batch (len ${len}) failed (exit ${r.status})`);
    return (JSON.parse(r.stdout) as { ms: number }).ms;
  };
  for (const [len, what] of [[128, 'softmax tables shipped'], [100, 'row-correlation tables interpolated between the shipped lengths, grid values computed on first use']] as const) {
    const ts = [coldOf(len), coldOf(len), coldOf(len)], cold = median(ts);
    rows.push({ name: `10,000 component requests (mixed blocks, ${COMPONENT_KINDS} kinds, 7×90 input grid), cold (fresh process), seqLen/n ${len}: ${what}`, value: `${(cold / 1000).toFixed(3)} s (median of 3 processes; ${ts.map((t) => (t / 1000).toFixed(3)).join(', ')})`, target: '≤ 1 s', pass: cold <= 1000 });
  }
  const reqs = componentRequests(128);
  const run = () => { for (const r of reqs) component(r); };
  run();
  const warm = median(timeIt(run, 3));
  rows.push({ name: '10,000 component requests (seqLen/n 128), warm (quadrature caches filled)', value: `${(warm / 1000).toFixed(3)} s`, target: '≤ 1 s', pass: warm <= 1000 });
  // causal attention components are not in the mix above: their reported per-pair gradR runs the
  // hit model of the column sums (formulas/attention.ts causalPairGradR), far slower per request
  const causalReqs: unknown[] = [];
  for (const [L, h, sv, r] of [[32, 4, 1, 0.2], [32, 16, 100, 0.95], [128, 4, 10, 0.5], [128, 1, 3, 0], [512, 4, 1, 0], [512, 16, 30, 0.95]] as const) {
    const w = Math.pow(sv, 0.25) / Math.sqrt(64);
    causalReqs.push({ block: 'attention', params: { dModel: 64, heads: h, stdQ: w, stdK: w, stdV: 0.125, stdO: 0.125, seqLen: L, causal: true }, input: { mean: 0, var: 1, r }, grad: { var: 1, r: 0.2 } });
  }
  for (const r of causalReqs) component(r); // warm
  const per = causalReqs.map((r) => median(timeIt(() => component(r), 3)));
  rows.push({ name: `causal attention component requests (seqLen 32–512, heads 1–16, σ_s² 1–100; ${causalReqs.length} kinds)`, value: `${median(per).toFixed(1)} ms/request median, ${Math.max(...per).toFixed(1)} ms slowest`, target: '—' });
  const notes = [
    'Representation: every catalogue block on the engine\'s path is a kernel over Float64Array records (formulas/_core.ts); a predict folds the whole stack through one reused buffer of records (18 doubles per stage: the moments, κ, ν and, since 2026-11-27, the two pair fluctuation moments of the mean-cosine gap; the rest the kernel cache) with no per-stage objects, then writes the N+1 entries. Before this (2026-11-26 15:17 run) blocks returned fresh moment objects: 4.2 / 4.5 ms median, 2.0 / 3.0 ms fastest (Pre-LN ReLU / Post-LN GeLU), garbage collection ~25 % of the time.',
    'Where a 1000-layer Pre-LN ReLU predict spent its time before the speed-ups below (V8 CPU profile, ~0.9 µs per layer): attention forward ~25 % (the softmax moments by cubic interpolation in ln v with three exp, the row correlation, the tilt), the fold\'s indirect kernel calls and record traffic ~30 %, the norms\', dropouts\' and linears\' kernels ~35 %, building the 1001 result objects ~5 %. GeLU adds a Mehler series (65 terms) and two memo lookups per layer.',
    'Transcendentals (measured in a loop on this machine, 2026-11-26): Math.exp ≈ 20–30 ns, Math.log ≈ 25–35 ns each. The attention kernel\'s row-variance averages (attnSoftmaxStats: K2, J, Q4, E[uJ], and since 2026-11-27 the Q path\'s T, W and the tilt\'s X, Y, M1) take one ln v and two exp per call: K2 − 1 and Q4 are interpolated as logs, the other seven as values (< 1e-3 relative against the direct average; as logs the 2026-11-27 additions had cost +9 % Pre-LN, and rank-collapsed Post-LN rows below v = 1e-4 fell to the direct 5-node average, +20 % Post-LN, until the table was extended down to v = 1e-9). The softmax powers themselves (interpPowers: three exp per call) stay interpolated as logs: as values their error reached 3e-4 at n = 512, v ≈ 1 (1e-4 is the test bound).',
    'Stage dispatch (measured 2026-11-26 23:00, CPU time, best of 300): a Pre-LN ReLU predict costs the same with the dropout kernel replaced by a plain record copy (0.977 vs 0.971 ms) and 0.16 ms less without its three dropout stages per layer: a trivial stage costs ~25 ns forward and ~20 ns backward, nearly all of it the fold\'s call through a megamorphic site (a loop of 9 calls to trivial kernels: 18 ns per call megamorphic, 10 ns with one call site per stage position, 5 ns inlined). One call site per stage position in the engine\'s folds (each site then sees one or two kernels) gave no gain (1.02–1.08 vs 0.96–1.01 ms): the kernels are not inlined there either. Tried again 2026-11-27 as a switch sending the seven commonest kernels (dropout, linear, both norms, attention, ReLU, GeLU) to call sites of their own, A/B in one process, fastest of 600: Pre-LN 1.146 vs 1.151 ms, λ/β 1.128 vs 1.065, Post-LN GeLU 1.83–1.95 vs 1.72–2.03 — no gain, not kept.',
    'The finite-width gap of the forward r (2026-11-27: every forward kernel writes two more pair fluctuation moments, the norms read them) costs 8–15 % per predict: A/B in one process against the previous build, CPU time, 300 alternating calls, median (p10): Pre-LN ReLU 2.97 (1.99) vs 2.55 (1.80) ms, Post-LN GeLU 3.07 (2.27) vs 2.78 (2.05), λ/β 2.78 (1.27) vs 2.58 (1.23). The causal fold carries them per pair of positions (P×P) and, with the unequal-row share of the causal K path (formulas/causal-share.ts), went from 1.49 to ~2.1–2.3 s per 1000-layer call.',
    'Component batch and the non-causal attention gradR (2026-11-27, 09:30–09:55): the per-row hit law of ncPairGradR (steps 8–9: a logistic popularity law, a two-point law per row from a 10-node rule for the row\'s own logit) costs ~5–15 % of the cold 10,000-request batch: the session-start build beside this one, alternating fresh processes on the same host minutes apart, wall (CPU) ms: seqLen 128 763–875 (1232–1433) vs 907–1108 (1469–1790), seqLen 100 911–1123 (1497–1898) vs 1086–1214 (1694–1898); two value-preserving speed-ups are in (one exp per row law evaluation instead of 10; ln(1 + x) by its series below 1e-3, 65 % of the u-loop\'s logs). The host was slower than at the 07:15 run throughout (the unchanged 1000-layer Pre-LN predict measured 1.38–3.35 ms median between runs, 1.40 at 07:15; the session-start build\'s seqLen-128 batch 0.67–0.89 s against 0.63 s then), so the rows above carry that load: the predict and advise code paths did not change this session, and an alternating in-process loop of the 1000-layer Pre-LN predict at 10:05 gave the session-start build 1.53 / 2.48 ms median and this one 1.32 / 1.94 ms (two rounds), where two back-to-back bench sections minutes earlier had shown 1.42 vs 2.60 ms; advise, alternating fresh processes at 10:10, session-start build vs this one: Pre-LN 8.6 / 22.4 vs 16.3 / 15.0 ms median, Post-LN GeLU 20.5 / 17.5 vs 19.7 / 24.7 ms — the ≤ 20 ms rows of the advise section swing across the target with either build on this host today (11.1–11.8 ms at 07:15).',
    'Speed-ups of 2026-11-27 (second session, helper-40; every predicted value bit-identical to the build before: every field of every layer and the warnings for the four configs here, every examples/ config, the HF examples through hfToConfig and nine edge configs, traces included), CPU ms per call median, main → this, three rounds of alternating fresh processes at 11:31 (load average ~5 on 2 cores, so only the ratios carry): Pre-LN ReLU 0.79–0.91 → 0.68–0.75, λ/β 0.81–0.86 → 0.67–0.79, Post-LN GeLU 1.49–1.80 → 0.70–0.72. (1) The attention kernel\'s three tables (attnSoftmaxStats, attnJacOverlap, softmaxRowCorrCos) in one pass (fwdTables): ln v once, the r′ stencil once, each memo row looked up once, the (d, heads, L)-only numbers kept for the last key — the Pre-LN / λ/β gain (0.82 → 0.68). (2) The activation memos\' key floor(log₂ σ²) read from the float\'s bits with a table for 2^(e−36) (Math.log2 near powers of two; 12 M values checked identical), the GeLU kernel\'s two lookups sharing one key, each memo remembering its last hit — Post-LN GeLU 1.35 → 1.07. (3) Within one call, a sub-layer whose kernels, params, λ, β and post-norm are those of the sub-layer two back and whose input record is bit-identical to that one\'s copies its records instead of folding them (exact: a kernel\'s output is a function of its params and input record; a Post-LN stack at its fixed point: 1441 of 1998 sub-layers of the GeLU config; never in Pre-LN, whose variance grows) — 1.07 → 0.70. (4) The folds keep the compiled arrays in locals and call the dropout kernels from call sites of their own (inlined): 1–4 %. Tried and not kept: precomputing params-only divisions at compile time (1–4 % slower), more dedicated call sites (linear/attention backward neutral, layernorm worse), reusing the entry buffers across calls, a JS Math.exp port (bit-identical, 2× slower). Timing-only experiments (wrong values, never kept): dropping both exp of the attention tables saves 2–3 %, dropping the whole table step 22 %; the rest is ~20 kernels per layer of their own arithmetic (divisions, acos/asin in ReLU).',
    'Why not 0.5 ms (Pre-LN and λ/β ~0.67 ms on a quiet host after the 2026-11-27 speed-ups, Post-LN GeLU ~0.70): that is ~500 ns per layer for ~18 kernel calls forward and backward plus the softmax. Measured on this machine (same day): per-sub-layer straight-line folds generated from the kernel sequence reach 0.66 ms only with a larger V8 inlining budget (--max-inlined-bytecode-size-cumulative=8000 --max-inlined-bytecode-size=2000, which lets V8 inline whole sub-layers and unbox every double); with Node\'s default budget the same generated code was slower than the generic loop (1.03 vs 0.87 ms), so the engine keeps the loop and the library sets no V8 flags. Causal configs use the position-resolved kernel over token pairs (O(P²) per sub-layer), a different order of work.',
    'Where the 0.68 ms goes (2026-11-27 13:00, Pre-LN ReLU; timing-only builds whose kernels were emptied, values wrong and never kept, with the fixed-point skip switched off so that no sub-layer is copied instead of folded; median of 1000 calls): full 0.664 ms (forward fold 0.467, backward fold 0.182, the 1001 result objects 0.030); attention kernel emptied 0.470, so that kernel costs ≈ 0.19 ms, nearly all of it forward — its tables (fwdTables) take 139 ns per call in isolation on the 1000 (v, r′) pairs of this stack: the row correlation 35 ns, the cubic of the nine row-variance averages with its two exp 84 ns, the two Jacobian overlaps 31 ns, ln v and the r′ stencil 20 ns; norms, attention, linears and ReLU emptied 0.290; dropouts trivial too 0.248; residual adds trivial too 0.185. So the fold itself — 18 stage calls and 2 residual adds per layer through the stage arrays, the entries and the result objects — costs 0.185 ms before any formula runs, and 0.5 ms needs 0.18 ms less: as much as the whole attention kernel, or every kernel but attention. Tried the same day, A/B alternating in one process: the FFN sub-layer\'s six stages as six direct calls (V8 then inlines the small kernels into the fold) 0.715 vs 0.678 ms, slower, as the generated straight-line folds were; the fold\'s result as one reused object instead of a literal (the literal deoptimises foldForward once per call, at its return) 0.748 vs 0.728 ms, no gain — neither kept.',
  ];
  return {
    notes,
    title: 'Theory engine: predict and component',
    method: 'in-process, performance.now(); predict: median of 200 calls after ≥ 100 warm-up calls and ≥ 1 s on the resolved config (JIT tiers and quadrature memo caches warm; causal: 7 calls after 2), with the fastest call (the machine is shared, so medians carry other tenants\' load); component: whole batch through the validating API, cold = one pass in a fresh Node process (median of 3 processes), warm = median of 3 passes after one.',
    rows,
  };
}
