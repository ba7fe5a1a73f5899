/**
 * Every block of the formula catalogue against a direct Monte-Carlo simulation (test/mc/).
 *
 * For each case, `component(...)` (src/component.ts) is compared with the mean over independent
 * trials (fresh weights, inputs, masks and upstream gradients) of the exact statistics of config v1
 * (var over all entries; r = mean over token pairs of the Pearson correlation across features after
 * removing the global mean; gradVar / gradR the same for the input gradient).
 *
 * Tolerance per quantity (fixed before looking at any result, never tuned):
 *   var, gradVar:   max(2 % of the MC mean, 4 × MC standard error)
 *   mean, r, gradR: max(0.01 absolute,      4 × MC standard error)
 * k = 4: a correct formula fails one quantity by chance with probability ≈ 6e-5 (normal tail);
 * over the ~900 comparisons here that is a ≈ 5 % chance of one spurious failure in the whole
 * file, and the seeds are fixed, so a result is reproducible, not flaky.
 * The fixed floors cover the simulator's own finite-size bias, which the SE does not see: the
 * statistics remove the empirical global mean of one trial, which biases var and r by O(r/(B·D))
 * and O(1/D) (≤ 0.5 % for the sizes below, D ≥ 64, B·D ≥ 256); the Pearson average differs from the
 * ratio of expectations by O(1/D).
 *
 * Cases whose formula disagrees with the simulation beyond this tolerance are real findings:
 * they are marked `it.fails` in KNOWN below with the measured numbers (for the lead to fix the
 * formula). The simulator's hand-written backward pass is itself checked against finite
 * differences at the end of this file.
 */
import { afterAll, describe, expect, it } from 'vitest';
import { component } from '../src/component.js';
import { monteCarlo, trialLoss, type GradIn, type In, type McResult, type P, type Quantity, type Shape } from './mc/blocks.js';

interface Case {
  name: string;
  /** block name for component() */
  block: string;
  /** simulator name (default: block) */
  sim?: string;
  params: P;
  /** params passed to component() when they differ from the simulator's (residual) */
  componentParams?: P;
  input: In;
  grad: GradIn;
  shape: Shape;
  trials: number;
  /** quantities not compared (with the reason in the case name) */
  skip?: Quantity[];
}

const QS: Quantity[] = ['mean', 'var', 'r', 'gradVar', 'gradR'];
const REL: Record<Quantity, boolean> = { mean: false, var: true, r: false, gradVar: true, gradR: false };
const K_SE = 4;
const REL_FLOOR = 0.02;
const ABS_FLOOR = 0.01;

const cases: Case[] = [];
let seedCounter = 1000;
const G0: GradIn = { var: 2, r: 0.3 };
const G1: GradIn = { var: 1, r: 0.8 };
const fmtIn = (x: In) => `μ=${x.mean} σ²=${x.var} r=${x.r}`;

// ---------------------------------------------------------------- linear
{
  const dIn = 96, dOut = 64, std = 1 / Math.sqrt(96);
  for (const v of [0.25, 1, 4]) for (const r of [0, 0.5, 0.9]) {
    const x = { mean: 0, var: v, r };
    cases.push({ name: `linear ${dIn}→${dOut} ${fmtIn(x)}`, block: 'linear', params: { dIn, dOut, std }, input: x, grad: r === 0.5 ? G1 : G0, shape: { B: 4, T: 8, D: 0 }, trials: 64 });
  }
  for (const [m, v, r] of [[1, 0.25, 0], [1, 1, 0.5], [-0.5, 4, 0.9]]) {
    const x = { mean: m, var: v, r };
    cases.push({ name: `linear ${fmtIn(x)}`, block: 'linear', params: { dIn, dOut, std }, input: x, grad: G0, shape: { B: 4, T: 8, D: 0 }, trials: 64 });
  }
  for (const [m, r] of [[0, 0], [0.5, 0.5]]) {
    const x = { mean: m, var: 1, r };
    cases.push({ name: `linear biasStd 0.5 ${fmtIn(x)}`, block: 'linear', params: { dIn, dOut, std, biasStd: 0.5 }, input: x, grad: G0, shape: { B: 4, T: 8, D: 0 }, trials: 64 });
  }
}

// ---------------------------------------------------------------- pointwise activations
for (const [block, params, label] of [['relu', {}, 'relu'], ['gelu', { approximate: 'none' }, 'gelu'], ['gelu', { approximate: 'tanh' }, 'gelu_tanh'], ['silu', {}, 'silu']] as const) {
  for (const m of [0, 0.5]) for (const v of [0.25, 1, 4]) for (const r of [0, 0.5, 0.9]) {
    const x = { mean: m, var: v, r };
    cases.push({ name: `${label} ${fmtIn(x)}`, block, params, input: x, grad: r === 0.5 ? G1 : G0, shape: { B: 4, T: 8, D: 128 }, trials: 48 });
  }
  const x = { mean: -1, var: 1, r: 0.5 };
  cases.push({ name: `${label} ${fmtIn(x)}`, block, params, input: x, grad: G1, shape: { B: 4, T: 8, D: 128 }, trials: 64 });
}

// ---------------------------------------------------------------- norms
for (const block of ['layernorm', 'rmsnorm']) {
  const means = block === 'layernorm' ? [0, 0.5] : [0, 0.5, 2];
  for (const m of means) for (const v of [0.25, 1, 4]) for (const r of [0, 0.5, 0.9]) {
    if (m !== 0 && v === 0.25 && r === 0) continue; // keep the grid small: other non-zero-mean points cover it
    const x = { mean: m, var: v, r };
    cases.push({ name: `${block} d=128 ${fmtIn(x)}`, block, params: { d: 128 }, input: x, grad: r === 0.5 ? G1 : G0, shape: { B: 4, T: 8, D: 128 }, trials: 48 });
  }
}

// ---------------------------------------------------------------- dropout
for (const p of [0, 0.1, 0.5]) for (const v of [0.25, 1, 4]) for (const r of [0, 0.5, 0.9]) {
  const x = { mean: 0, var: v, r };
  cases.push({ name: `dropout p=${p} ${fmtIn(x)}`, block: 'dropout', params: { p }, input: x, grad: r === 0.5 ? G1 : G0, shape: { B: 4, T: 8, D: 128 }, trials: 48 });
}
for (const p of [0.1, 0.5]) for (const [m, r] of [[1, 0], [-2, 0.5]]) {
  const x = { mean: m, var: 1, r };
  cases.push({ name: `dropout p=${p} ${fmtIn(x)}`, block: 'dropout', params: { p }, input: x, grad: G0, shape: { B: 4, T: 8, D: 128 }, trials: 48 });
}

// ---------------------------------------------------------------- softmax
for (const n of [4, 64]) for (const v of [0.1, 1, 4, 16]) for (const r of [0, 0.5, 0.9]) {
  const x = { mean: 0, var: v, r };
  cases.push({ name: `softmax n=${n} ${fmtIn(x)}`, block: 'softmax', params: { n }, input: x, grad: G0, shape: { B: 8, T: 8, D: 0 }, trials: n === 4 ? 128 : 48 });
}

// ---------------------------------------------------------------- attention
{
  const d = 64, L = 16;
  /** stdQ = stdK giving score variance σ_s² = d²σ_q²σ_k²(σ²+μ²)² */
  const qk = (scoreVar: number, x: In) => Math.pow(scoreVar, 0.25) / Math.sqrt(d * (x.var + x.mean * x.mean));
  const sv = 1 / Math.sqrt(d);
  const att = (label: string, scoreVar: number, x: In, extra: P, grad: GradIn = G0) => {
    const w = qk(scoreVar, x);
    const params: P = { dModel: d, heads: 1, stdQ: w, stdK: w, stdV: sv, stdO: sv, seqLen: L, ...extra };
    if (params.value === false) { delete params.stdV; delete params.stdO; }
    cases.push({ name: `attention ${label} σ_s²=${scoreVar} ${fmtIn(x)}`, block: 'attention', params, input: x, grad, shape: { B: 2, T: L, D: 0 }, trials: 40 });
  };
  const x0 = { mean: 0, var: 1, r: 0.5 };
  for (const s of [0.1, 1, 4, 25]) att('h=1', s, x0, {});
  att('h=1', 4, { mean: 0, var: 1, r: 0 }, {}, G1);
  att('h=1', 4, { mean: 0, var: 1, r: 0.9 }, {});
  att('h=1', 1, { mean: 0, var: 4, r: 0.5 }, {});
  att('h=1', 1, { mean: 0.5, var: 1, r: 0.5 }, {});
  att('h=4', 1, x0, { heads: 4 });
  att('h=4', 25, x0, { heads: 4 });
  for (const s of [0.1, 4, 25]) att('h=4 causal', s, x0, { heads: 4, causal: true });
  att('h=1 value:false', 1, x0, { value: false });
  att('h=4 value:false', 25, x0, { heads: 4, value: false });
  att('h=1 causal value:false', 4, x0, { value: false, causal: true });
  att('h=1 attnDropout=0.1', 1, x0, { attnDropout: 0.1 });
  att('h=4 causal attnDropout=0.1', 4, x0, { heads: 4, causal: true, attnDropout: 0.1 }, G1);
}

// ---------------------------------------------------------------- ffn, swiglu
{
  const d = 64, F = 256, s1 = Math.sqrt(2 / d), s2 = 1 / Math.sqrt(F);
  for (const act of ['relu', 'gelu', 'gelu_tanh', 'silu']) {
    const x = { mean: 0, var: 1, r: 0.5 };
    cases.push({ name: `ffn ${act} ${fmtIn(x)}`, block: 'ffn', params: { dModel: d, dFF: F, activation: act, std1: s1, std2: s2 }, input: x, grad: G0, shape: { B: 2, T: 8, D: 0 }, trials: 48 });
  }
  for (const [act, x, p] of [['relu', { mean: 0, var: 4, r: 0 }, 0.1], ['relu', { mean: 0, var: 0.25, r: 0.9 }, 0.5], ['gelu', { mean: 0.5, var: 1, r: 0 }, 0.1]] as const) {
    cases.push({ name: `ffn ${act} dropout=${p} ${fmtIn(x)}`, block: 'ffn', params: { dModel: d, dFF: F, activation: act, std1: s1, std2: s2, dropout: p }, input: x, grad: G1, shape: { B: 2, T: 8, D: 0 }, trials: 48 });
  }
  const w = 1 / Math.sqrt(d);
  for (const [x, p] of [[{ mean: 0, var: 1, r: 0.5 }, 0], [{ mean: 0, var: 4, r: 0 }, 0], [{ mean: 0, var: 0.25, r: 0.9 }, 0.1], [{ mean: 0.5, var: 1, r: 0.5 }, 0]] as const) {
    cases.push({ name: `swiglu dropout=${p} ${fmtIn(x)}`, block: 'swiglu', params: { dModel: d, dFF: F, std1: w, std3: w, std2: s2, dropout: p }, input: x, grad: G0, shape: { B: 2, T: 8, D: 0 }, trials: 48 });
  }
}

// ---------------------------------------------------------------- embedding (no input; gradient passes unchanged)
for (const [label, params] of [
  ['uniform V=16 std=1 posStd=0.5 typeStd=0.3', { vocab: 16, std: 1, posStd: 0.5, typeStd: 0.3 }],
  ['uniform V=50000 std=0.02', { vocab: 50000, std: 0.02 }],
  ['zipf a=1.1 V=1000 std=1 posStd=1', { vocab: 1000, std: 1, posStd: 1, tokens: 'zipf', zipfExponent: 1.1 }],
] as const) {
  cases.push({ name: `embedding ${label}`, block: 'embedding', params, input: { mean: 0, var: 1, r: 0 }, grad: G0, shape: { B: 8, T: 16, D: 64 }, trials: 64 });
}

// ---------------------------------------------------------------- residual with a real branch y = λx + β·xW
// The branch moments given to component() are the linear map's, from first principles:
// E[(xW)²] = D w² (σ² + μ²), token covariance D w² (rσ² + μ²), backward gain D w², r_g unchanged.
for (const [lam, beta, w, x] of [[0.8, 0.6, 1 / 8, { mean: 0, var: 1, r: 0.5 }], [1, 1, 0.2, { mean: 0, var: 4, r: 0 }], [0.9, 0.3, 1 / 8, { mean: 0.5, var: 1, r: 0.2 }]] as const) {
  const D = 64, s1 = x.var + x.mean * x.mean;
  const branchVar = D * w * w * s1, branchR = (x.r * x.var + x.mean * x.mean) / s1;
  cases.push({
    name: `residual λ=${lam} β=${beta} branch=linear(w=${w}) ${fmtIn(x)}`, block: 'residual', sim: 'residual-linear',
    params: { skip: lam, branch: beta, w }, componentParams: { skip: lam, branch: beta, branchVar, branchR, branchGradGain: D * w * w, branchGradR: G0.r },
    input: x, grad: G0, shape: { B: 4, T: 8, D }, trials: 64,
  });
}

// ---------------------------------------------------------------- ffn, swiglu with separate rates
// config v1 actDropout: the activation dropout p_h and the output dropout p at their own places
// (appended last, so that the cases above keep their seeds)
{
  const d = 64, F = 256, s1 = Math.sqrt(2 / d), s2 = 1 / Math.sqrt(F), w = 1 / Math.sqrt(d);
  for (const [pd, ph] of [[0.2, 0], [0, 0.3], [0.1, 0.5]] as const) {
    const x = { mean: 0, var: 1, r: 0.5 };
    for (const act of ['relu', 'gelu'] as const) {
      cases.push({ name: `ffn ${act} dropout=${pd} actDropout=${ph} ${fmtIn(x)}`, block: 'ffn', params: { dModel: d, dFF: F, activation: act, std1: s1, std2: s2, dropout: pd, actDropout: ph }, input: x, grad: G1, shape: { B: 2, T: 8, D: 0 }, trials: 48 });
    }
    cases.push({ name: `swiglu dropout=${pd} actDropout=${ph} ${fmtIn(x)}`, block: 'swiglu', params: { dModel: d, dFF: F, std1: w, std3: w, std2: s2, dropout: pd, actDropout: ph }, input: x, grad: G1, shape: { B: 2, T: 8, D: 0 }, trials: 48 });
  }
}

// ---------------------------------------------------------------- known discrepancies (measured, seeds fixed)
/**
 * case name → quantity → measured numbers (predicted vs MC mean ± SE, inputs in the case name).
 * These assertions are expected to fail until the formula is fixed (`it.fails`); when a fix lands,
 * the `it.fails` turns red and the entry must be removed. Re-measured after the softmax/attention
 * fixes (exact Jacobian gain, quasi-MC row correlation, Jensen factors). Causes, as diagnosed:
 *  - gradR of softmax: the formula predicts the pooled ratio Cov/Var (printed as "pooled"), while
 *    the statistic of config v1 is the mean of per-pair Pearson correlations.
 *  - gradR of attention: non-causal attention reports the per-pair mean from a hit model of the
 *    column sums with the K path's pair covariance and the K/Q-path amplitude fluctuations
 *    (formulas/attention.ts ncPairGradR); it closed the σ_s² = 25, r = 0.5 over-predictions of the
 *    lognormal column-sum model (0.14–0.15 vs 0.07–0.11) but under-predicts one head at σ_s² ≤ 4,
 *    L = 16 by 0.03–0.06 (e.g. σ_s² = 4, r = 0: 0.424 vs 0.486; the lognormal model was within):
 *    the two-point row law is crude for rows spread over many keys. The per-head shared-query scale
 *    (ncPairGradR step 6: the pair shares its head's U) closed h = 1, L = 16 at σ_s² = 1, r = 0.5
 *    (σ² = 1) and σ_s² = 4, r = 0.5/0.9 (now −0.030/−0.037/−0.033 against tolerances 0.033/0.039/
 *    0.034) and moved the other r = 0.5 entries by +0.004. Causal attention reports the per-pair mean from a hit model of its
 *    column sums (causalPairGradR: counts with zeros, exact centring of the Q-path row covariance,
 *    the K/Q-path amplitude fluctuations): at σ_s² = 25 0.102 vs 0.069 (was 0.22; 0.093 before the
 *    amplitudes), attnDropout 0.366 vs 0.324 (0.356 before); value: false (0.239 vs 0.269 before the
 *    amplitudes) now within its tolerance.
 *  - softmax r at n = 4: Pearson over only 4 features is biased against the ratio of expectations
 *    (pooled agrees with the formula within 0.02). n = 64: the quasi-MC row-correlation table was
 *    0.016–0.024 off (one draw of normals shared by the whole table); the shipped tables (16× the
 *    rows, formulas/softmax-tables.ts) closed four r and one gradR entry here; σ²=1 r=0.5 r is the
 *    per-pair Pearson vs pooled gap (formula 0.397, pooled 0.405, Pearson 0.415).
 *  - attention r at σ_s² = 4, r = 0, d = 8 (0.181 vs 0.230; 0.198 before the tilt term). (At σ_s² = 25,
 *    r = 0.5, value: false, d = 8, h = 4 it was 0.773 vs 0.795; the row-variance average over |q_i|²
 *    at d_h = 2, attnSoftmaxStats, brought it inside the tolerance.)
 *  - swiglu r at input r = 0: a_i = x_i·w1 and b_i = x_i·w3 share the input token, an O(1/d)
 *    correlation ≈ 0.6/d the formula drops.
 */
const KNOWN: Record<string, Partial<Record<Quantity, string>>> = {
  "softmax n=4 μ=0 σ²=0.1 r=0": { gradR: "pred 0.2796, MC 0.2454 ± 0.007655, tol 0.03062, pooled 0.2703" },
  "softmax n=4 μ=0 σ²=0.1 r=0.5": { r: "pred 0.4937, MC 0.4302 ± 0.008114, tol 0.03246, pooled 0.4818", gradR: "pred 0.2897, MC 0.2508 ± 0.006682, tol 0.02673, pooled 0.2853" },
  "softmax n=4 μ=0 σ²=0.1 r=0.9": { r: "pred 0.8975, MC 0.8516 ± 0.004775, tol 0.01910, pooled 0.8885", gradR: "pred 0.2979, MC 0.2542 ± 0.007817, tol 0.03127, pooled 0.2918" },
  "softmax n=4 μ=0 σ²=1 r=0.5": { r: "pred 0.4622, MC 0.4078 ± 0.008522, tol 0.03409, pooled 0.4482" },
  "softmax n=4 μ=0 σ²=1 r=0.9": { r: "pred 0.8841, MC 0.8448 ± 0.005276, tol 0.02110, pooled 0.8825", gradR: "pred 0.2874, MC 0.2265 ± 0.007992, tol 0.03197, pooled 0.2627" },
  "softmax n=4 μ=0 σ²=4 r=0": { gradR: "pred 0.1306, MC 0.1630 ± 0.005636, tol 0.02255, pooled 0.1389" },
  "softmax n=4 μ=0 σ²=4 r=0.5": { r: "pred 0.4177, MC 0.3793 ± 0.008345, tol 0.03338, pooled 0.4130" },
  "softmax n=4 μ=0 σ²=4 r=0.9": { r: "pred 0.8587, MC 0.8014 ± 0.006439, tol 0.02575, pooled 0.8468", gradR: "pred 0.2761, MC 0.2204 ± 0.008269, tol 0.03307, pooled 0.2601" },
  "softmax n=4 μ=0 σ²=16 r=0.9": { r: "pred 0.8123, MC 0.7703 ± 0.006348, tol 0.02539, pooled 0.8107", gradR: "pred 0.2623, MC 0.2009 ± 0.008958, tol 0.03583, pooled 0.1883" },
  "softmax n=64 μ=0 σ²=1 r=0": { gradR: "pred 0.1208, MC 0.1464 ± 0.002004, tol 0.01000, pooled 0.1341" },
  "softmax n=64 μ=0 σ²=1 r=0.5": { r: "pred 0.3966, MC 0.4147 ± 0.003651, tol 0.01461, pooled 0.4051" },
  "softmax n=64 μ=0 σ²=4 r=0": { gradR: "pred 0.02916, MC 0.05321 ± 0.001523, tol 0.01000, pooled 0.04294" },
  "softmax n=64 μ=0 σ²=4 r=0.9": { gradR: "pred 0.2468, MC 0.2066 ± 0.009468, tol 0.03787, pooled 0.2273" },
  "attention h=4 causal σ_s²=25 μ=0 σ²=1 r=0.5": { gradR: "pred 0.09478, MC 0.06903 ± 0.003290, tol 0.01316, pooled 0.05383" },
  "attention h=4 causal attnDropout=0.1 σ_s²=4 μ=0 σ²=1 r=0.5": { gradR: "pred 0.3551, MC 0.3244 ± 0.006720, tol 0.02688, pooled 0.2140" },
  "swiglu dropout=0 μ=0 σ²=4 r=0": { r: "pred 0, MC 0.01292 ± 0.002874, tol 0.01150, pooled 0.01135" },
};

// ---------------------------------------------------------------- runner

const mcCache = new Map<string, McResult>();
const table = new Map<string, Partial<Record<Quantity, string>>>();
const details: string[] = [];
const caseSeed = new Map<string, number>();
for (const c of cases) caseSeed.set(c.name, seedCounter++);

function mc(c: Case): McResult {
  let r = mcCache.get(c.name);
  if (!r) {
    r = monteCarlo(c.sim ?? c.block, c.params, c.input, c.grad, c.shape, c.trials, caseSeed.get(c.name)!);
    mcCache.set(c.name, r);
  }
  return r;
}

function tolerance(q: Quantity, mcMean: number, se: number): number {
  return Math.max(REL[q] ? REL_FLOOR * Math.abs(mcMean) : ABS_FLOOR, K_SE * se);
}

const answers = new Map<string, ReturnType<typeof component>>();
function predicted(c: Case) {
  let a = answers.get(c.name);
  if (!a) {
    a = component({ block: c.block, params: c.componentParams ?? c.params, input: c.input, grad: c.grad, batch: c.shape.B }); // centred at the MC batch's mean, as it measures
    answers.set(c.name, a);
  }
  return a;
}

describe('formulas vs Monte-Carlo', () => {
  const names = new Set<string>();
  for (const c of cases) {
    if (names.has(c.name)) throw new Error(`duplicate case name ${c.name}`);
    names.add(c.name);
    describe(c.name, () => {
      for (const q of QS) {
        if (c.skip?.includes(q)) continue;
        const known = KNOWN[c.name]?.[q];
        const t = known ? it.fails : it;
        t(`${q}${known ? ` (known discrepancy: ${known})` : ''}`, () => {
          const a = predicted(c);
          const m = mc(c);
          const pv = a[q] as number, e = m[q];
          const tol = tolerance(q, e.mean, e.se);
          const err = pv - e.mean;
          const rel = e.mean !== 0 ? err / Math.abs(e.mean) : err;
          const cell = REL[q] ? `${(100 * rel).toFixed(1)}%` : err.toFixed(3);
          const row = table.get(c.name) ?? {};
          row[q] = `${Math.abs(err) <= tol ? ' ' : known ? '✗' : '!'}${cell}`;
          table.set(c.name, row);
          if (Math.abs(err) > tol) details.push(`${c.name} ${q}: pred ${fmt(pv)}, MC ${fmt(e.mean)} ± ${fmt(e.se)}, tol ${fmt(tol)}${q === 'r' || q === 'gradR' ? `, pooled ${fmt(q === 'r' ? m.rPooled.mean : m.gradRPooled.mean)}` : ''}`);
          expect(Number.isFinite(pv)).toBe(true);
          expect(Math.abs(err)).toBeLessThanOrEqual(tol);
        });
      }
    });
  }
});

function fmt(x: number): string {
  if (x === 0) return '0';
  const a = Math.abs(x);
  return a >= 1e4 || a < 1e-3 ? x.toExponential(3) : x.toPrecision(4);
}

afterAll(() => {
  // one line per case: relative error (var, gradVar) or absolute error (mean, r, gradR) of the
  // formula against the MC mean; ✗ = known discrepancy (it.fails), ! = new failure
  const head = `${'case'.padEnd(62)} ${QS.map((q) => q.padStart(9)).join(' ')}`;
  const lines = [...table].map(([n, r]) => `${n.padEnd(62)} ${QS.map((q) => (r[q] ?? '').padStart(9)).join(' ')}`);
  console.log(`formula − Monte-Carlo (tolerance max(2 % | 0.01, ${K_SE}·SE))\n${head}\n${lines.join('\n')}\noutside tolerance:\n${details.join('\n')}`);
});

// ---------------------------------------------------------------- the simulator's backward pass
describe('simulator backward pass = finite differences of Σ Y⊙G', () => {
  const fd: [string, P, In, Shape][] = [
    ['linear', { dIn: 16, dOut: 12, std: 0.3, biasStd: 0.1 }, { mean: 0.5, var: 1, r: 0.5 }, { B: 2, T: 3, D: 16 }],
    ['gelu', { approximate: 'none' }, { mean: 0.5, var: 1, r: 0.5 }, { B: 2, T: 3, D: 8 }],
    ['gelu', { approximate: 'tanh' }, { mean: 0.5, var: 1, r: 0.5 }, { B: 2, T: 3, D: 8 }],
    ['silu', {}, { mean: 0.5, var: 1, r: 0.5 }, { B: 2, T: 3, D: 8 }],
    ['layernorm', { d: 8 }, { mean: 0.5, var: 1, r: 0.5 }, { B: 2, T: 3, D: 8 }],
    ['rmsnorm', { d: 8 }, { mean: 0.5, var: 1, r: 0.5 }, { B: 2, T: 3, D: 8 }],
    ['dropout', { p: 0.3 }, { mean: 0.5, var: 1, r: 0.5 }, { B: 2, T: 3, D: 8 }],
    ['softmax', { n: 6 }, { mean: 0.5, var: 2, r: 0.5 }, { B: 2, T: 3, D: 0 }],
    ['attention', { dModel: 8, heads: 2, stdQ: 0.5, stdK: 0.5, stdV: 0.4, stdO: 0.4, seqLen: 5, causal: true, attnDropout: 0.2 }, { mean: 0.2, var: 1, r: 0.3 }, { B: 2, T: 5, D: 0 }],
    ['attention', { dModel: 8, heads: 2, stdQ: 0.5, stdK: 0.5, value: false, seqLen: 5 }, { mean: 0.2, var: 1, r: 0.3 }, { B: 2, T: 5, D: 0 }],
    ['ffn', { dModel: 8, dFF: 12, activation: 'gelu', std1: 0.4, std2: 0.3, dropout: 0.2 }, { mean: 0.2, var: 1, r: 0.3 }, { B: 2, T: 3, D: 0 }],
    ['swiglu', { dModel: 8, dFF: 12, std1: 0.4, std3: 0.3, std2: 0.3, dropout: 0.2 }, { mean: 0.2, var: 1, r: 0.3 }, { B: 2, T: 3, D: 0 }],
    ['ffn', { dModel: 8, dFF: 12, activation: 'relu', std1: 0.4, std2: 0.3, dropout: 0.1, actDropout: 0.4 }, { mean: 0.2, var: 1, r: 0.3 }, { B: 2, T: 3, D: 0 }],
    ['swiglu', { dModel: 8, dFF: 12, std1: 0.4, std3: 0.3, std2: 0.3, dropout: 0, actDropout: 0.3 }, { mean: 0.2, var: 1, r: 0.3 }, { B: 2, T: 3, D: 0 }],
    ['residual-linear', { skip: 0.8, branch: 0.6, w: 0.3 }, { mean: 0.2, var: 1, r: 0.3 }, { B: 2, T: 3, D: 8 }],
  ];
  for (const [block, p, x, s] of fd) {
    it(`${block} ${JSON.stringify(p)}`, () => {
      // central differences with h = 1e-5: truncation O(h²) ~ 1e-10, rounding ~ 1e-16/h ~ 1e-11
      // relative to O(1) losses; the erf fit used by exact GeLU (error 1.2e-7, not differentiated
      // exactly) limits that case to ~1e-5. Tolerance 1e-4 relative (+1e-7 absolute).
      const g = { var: 1, r: 0.4 };
      const base = trialLoss(block, 7, p, x, g, s);
      const n = base.raw.dX.length;
      for (const i of [0, 3, Math.floor(n / 2), n - 1]) {
        const h = 1e-5;
        const lp = trialLoss(block, 7, p, x, g, s, { index: i, h }).loss;
        const lm = trialLoss(block, 7, p, x, g, s, { index: i, h: -h }).loss;
        const fdv = (lp - lm) / (2 * h);
        expect(Math.abs(fdv - base.raw.dX[i])).toBeLessThanOrEqual(1e-4 * Math.abs(base.raw.dX[i]) + 1e-7);
      }
    });
  }
});
