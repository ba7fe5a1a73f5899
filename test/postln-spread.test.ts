/**
 * The seed-to-seed spread of the Post-LN input gradient (formulas/residual.ts: attnPostSpread,
 * ffnPostSpread, postSpreadInStack, ffnCrossOverlap, logMeanMoments; src/engine.ts gradSpread)
 * against a float64 Monte-Carlo of the exact single-token computation: LayerNorm (centring and
 * projection) after x + F(x), the upstream gradient uniform on y⊥ (Euler), weights iid
 * N(0, 1/fan-in), fresh for every draw.
 *
 * Tolerance: 4 × the Monte-Carlo standard error of the sample variance (from its fourth moment),
 * fixed before looking at the results; the seeds are fixed, so a pass or fail is reproducible.
 * What the SE does not see: the formulas are O(1/d); the O(1/d²) rest measured with 20 000 draws
 * (numpy) is +1 % (attention) and +1.6 % (FFN) at d = 64, +2 % / +5 % at d = 32, under one SE here
 * at d = 64; the stack case at d = 32 carries it six times, still under one SE.
 */
import { describe, expect, it } from 'vitest';
import { Rng } from '../verify/rng.js';
import { attnPostSpread, batchAlignStep, ffnCrossOverlap, ffnPostSpread, logMeanMoments } from '../formulas/residual.js';
import { resolveConfig } from '../src/config.js';
import { predictResolved } from '../src/engine.js';
import { fileURLToPath } from 'node:url';
import { compareGpu, loadGpu } from '../fidelity/gpu.js';

const gpuStore = loadGpu(fileURLToPath(new URL('../fidelity/gpu/', import.meta.url)));

type Vec = Float64Array;
const normals = (rng: Rng, n: number, s: number): Vec => { const a = new Float64Array(n); for (let i = 0; i < n; i++) a[i] = rng.normal() * s; return a; };
/** y = A x, A rows × cols row-major */
const mv = (A: Vec, rows: number, cols: number, x: Vec): Vec => { const y = new Float64Array(rows); for (let r = 0; r < rows; r++) { let s = 0; const o = r * cols; for (let c = 0; c < cols; c++) s += A[o + c] * x[c]; y[r] = s; } return y; };
/** y = Aᵀ x */
const mtv = (A: Vec, rows: number, cols: number, x: Vec): Vec => { const y = new Float64Array(cols); for (let r = 0; r < rows; r++) { const o = r * cols, xr = x[r]; for (let c = 0; c < cols; c++) y[c] += A[o + c] * xr; } return y; };
const dot = (a: Vec, b: Vec) => { let s = 0; for (let i = 0; i < a.length; i++) s += a[i] * b[i]; return s; };
/** LayerNorm (γ = 1, β = 0): y and the standard deviation σ */
function ln(z: Vec): { y: Vec; s: number } {
  const d = z.length; let m = 0; for (const v of z) m += v; m /= d;
  let q = 0; for (const v of z) q += (v - m) ** 2;
  const s = Math.sqrt(q / d), y = new Float64Array(d); for (let i = 0; i < d; i++) y[i] = (z[i] - m) / s;
  return { y, s };
}
/** LayerNorm backward at (y, σ) */
function lnBack(y: Vec, s: number, g: Vec): Vec {
  const d = g.length; let m = 0; for (const v of g) m += v; m /= d;
  const gy = dot(g, y) / d, out = new Float64Array(d); for (let i = 0; i < d; i++) out[i] = (g[i] - m - y[i] * gy) / s;
  return out;
}

/** One Post-LN sub-layer's branch with fresh weights: F(x) (and the ReLU mask it used), and the
 * transposed Jacobian at that mask (attention: none). */
interface Branch { F: (x: Vec) => { f: Vec; mask: Uint8Array | null }; JT: (v: Vec, mask: Uint8Array | null) => Vec }
function branch(rng: Rng, kind: 'attn' | 'ffn', d: number): Branch {
  if (kind === 'attn') {
    const Wv = normals(rng, d * d, 1 / Math.sqrt(d)), Wo = normals(rng, d * d, 1 / Math.sqrt(d));
    return { F: (x) => ({ f: mv(Wv, d, d, mv(Wo, d, d, x)), mask: null }), JT: (v) => mtv(Wo, d, d, mtv(Wv, d, d, v)) };
  }
  const m = 4 * d, W1 = normals(rng, m * d, 1 / Math.sqrt(d)), W2 = normals(rng, d * m, 1 / Math.sqrt(m));
  return {
    F: (x) => { const h = mv(W1, m, d, x), D = new Uint8Array(m); for (let j = 0; j < m; j++) { D[j] = h[j] > 0 ? 1 : 0; h[j] *= D[j]; } return { f: mv(W2, d, m, h), mask: D }; },
    JT: (v, D) => { const t = mtv(W2, d, m, v); for (let j = 0; j < m; j++) t[j] *= D![j]; return mtv(W1, m, d, t); },
  };
}

const add = (a: Vec, b: Vec) => a.map((v, i) => v + b[i]);
function varSe(xs: number[]): { v: number; se: number } {
  const n = xs.length, m = xs.reduce((a, b) => a + b, 0) / n;
  let m2 = 0, m4 = 0; for (const x of xs) { const c = (x - m) ** 2; m2 += c; m4 += c * c; }
  m2 /= n; m4 /= n;
  return { v: (m2 * n) / (n - 1), se: Math.sqrt(Math.max(m4 - m2 * m2, 0) / n) };
}

describe('Post-LN gradient spread: one collapsed sub-layer', () => {
  const d = 64;
  for (const [kind, draws] of [['attn', 3000], ['ffn', 2000]] as const) {
    it(`${kind}, d = ${d}: Var log(|g_x|²/|g_y|²) matches ${draws} Monte-Carlo draws within 4 SE`, () => {
      const rng = new Rng(kind === 'attn' ? 11 : 12);
      const L: number[] = [];
      for (let k = 0; k < draws; k++) {
        const x = ln(normals(rng, d, 1)).y, b = branch(rng, kind, d), { f, mask } = b.F(x);
        const { y, s } = ln(add(x, f));
        const g = normals(rng, d, 1), gy = dot(g, y) / d; for (let i = 0; i < d; i++) g[i] -= y[i] * gy;
        const gz = lnBack(y, s, g), gx = add(gz, b.JT(gz, mask));
        L.push(Math.log(dot(gx, gx) / dot(g, g)));
      }
      const out = new Float64Array(4);
      if (kind === 'attn') attnPostSpread(1, 1, 1, d, out); else ffnPostSpread(1, 1, 0.5, d, 4 * d, out);
      const want = out[0] + out[1] - 2 * out[2];
      expect(want).toBeCloseTo(kind === 'attn' ? 4 / d : 22 / (9 * d), 12);
      const { v, se } = varSe(L);
      expect(Math.abs(v - want)).toBeLessThan(4 * se);
    });
  }
});

describe('Post-LN gradient spread: a stack (one token per sequence, 4 sequences sharing the weights)', () => {
  it('engine logVarSequence (one sequence) and logVar at batch 4 match the chain within 4 SE', () => {
    const d = 32, N = 6, B = 4, draws = 500, rng = new Rng(13);
    const cfg = resolveConfig({ dModel: d, heads: 4, dFF: 4 * d, seqLen: 1, activation: 'relu', input: { r: 0 }, layers: N, norm: 'post', init: { qk: 1 / Math.sqrt(d), v: 1 / Math.sqrt(d), o: 1 / Math.sqrt(d), ffn1: 1 / Math.sqrt(d), ffn2: 1 / Math.sqrt(4 * d) } });
    const one = predictResolved(cfg, { batch: 1 }).layers[0].gradSpread!, four = predictResolved(cfg, { batch: B }).layers[0].gradSpread!;
    const seq: number[] = [], bat: number[] = [];
    for (let k = 0; k < draws; k++) {
      let xs = Array.from({ length: B }, () => normals(rng, d, 1));
      const tape: { b: Branch; y: Vec[]; s: number[]; mask: (Uint8Array | null)[] }[] = [];
      for (let l = 0; l < 2 * N; l++) {
        const t = { b: branch(rng, l % 2 === 0 ? 'attn' : 'ffn', d), y: [] as Vec[], s: [] as number[], mask: [] as (Uint8Array | null)[] };
        xs = xs.map((x) => { const { f, mask } = t.b.F(x), r = ln(add(x, f)); t.y.push(r.y); t.s.push(r.s); t.mask.push(mask); return r.y; });
        tape.push(t);
      }
      const g0 = Array.from({ length: B }, () => normals(rng, d, 1));
      const top = g0.map((g) => dot(g, g));
      let gs = g0;
      for (let l = 2 * N - 1; l >= 0; l--) {
        const t = tape[l];
        gs = gs.map((g, k) => { const gz = lnBack(t.y[k], t.s[k], g); return add(gz, t.b.JT(gz, t.mask[k])); });
      }
      const bot = gs.map((g) => dot(g, g));
      seq.push(Math.log(bot[0] / top[0]));
      bat.push(Math.log(bot.reduce((a, b) => a + b, 0) / top.reduce((a, b) => a + b, 0)));
    }
    const s1 = varSe(seq), s4 = varSe(bat);
    expect(Math.abs(s1.v - one.logVarSequence)).toBeLessThan(4 * s1.se);
    expect(Math.abs(s4.v - four.logVar)).toBeLessThan(4 * s4.se);
    // the batch shares only the forward part: its spread is well below one sequence's
    expect(four.logVar).toBeLessThan(0.6 * one.logVarSequence);
  });

  // formulas/residual.ts batchAlignStep: the squared overlap o² of two sequences' unit gradients
  // below each sub-layer. Rule fixed beforehand from the float64 chain at d = 64 (numpy, N = 96,
  // scripts/postln-batch-chain.py), where the closure ran ≤ 20 % low at the peak: within 25 % of the
  // measured mean or 4 standard errors of it, wherever o² is above 2/d (near the top it is 1/d + O(σ²)).
  it('batchAlignStep: the sequences\' gradient directions align as derived (d = 32, N = 32, B = 4)', () => {
    const d = 32, N = 32, B = 4, draws = 200, rng = new Rng(15);
    const K = 2 * N, o2 = Array.from({ length: K }, () => [] as number[]);
    for (let k = 0; k < draws; k++) {
      let xs = Array.from({ length: B }, () => ln(normals(rng, d, 1)).y);
      const tape: { b: Branch; y: Vec[]; s: number[]; mask: (Uint8Array | null)[] }[] = [];
      for (let l = 0; l < K; l++) {
        const t = { b: branch(rng, l % 2 === 0 ? 'attn' : 'ffn', d), y: [] as Vec[], s: [] as number[], mask: [] as (Uint8Array | null)[] };
        xs = xs.map((x) => { const { f, mask } = t.b.F(x), r = ln(add(x, f)); t.y.push(r.y); t.s.push(r.s); t.mask.push(mask); return r.y; });
        tape.push(t);
      }
      let gs = Array.from({ length: B }, () => normals(rng, d, 1));
      for (let l = K - 1; l >= 0; l--) {
        let acc = 0, n = 0;
        for (let b = 0; b < B; b++) for (let c = b + 1; c < B; c++) { acc += dot(gs[b], gs[c]) ** 2 / (dot(gs[b], gs[b]) * dot(gs[c], gs[c])); n++; }
        o2[l].push(acc / n);
        const t = tape[l];
        gs = gs.map((g, j) => { const gz = lnBack(t.y[j], t.s[j], g); return add(gz, t.b.JT(gz, t.mask[j])); });
      }
    }
    // the rule: ρ_x from the inputs up (independent zero-mean inputs: 0), o² from 1/d at the top down
    const rho = new Float64Array(K), sp = new Float64Array(4), T = new Float64Array(K), vN = new Float64Array(K);
    let r = 0;
    for (let l = 0; l < K; l++) {
      if (l % 2 === 0) attnPostSpread(1, 1, 1, d, sp); else ffnPostSpread(1, 1, 0.5, d, 4 * d, sp);
      rho[l] = r; T[l] = sp[3]; vN[l] = sp[1];
      if (l % 2 === 1) r = ffnCrossOverlap(1, sp[3], r);
    }
    let c2 = 1 / d, checked = 0;
    for (let l = K - 1; l >= 0; l--) {
      const xs = o2[l], m = xs.reduce((a, b) => a + b, 0) / xs.length;
      const se = Math.sqrt(xs.reduce((a, b) => a + (b - m) ** 2, 0) / (xs.length - 1) / xs.length);
      if (m > 2 / d) { expect(Math.abs(c2 - m)).toBeLessThan(Math.max(0.25 * m, 4 * se)); checked++; }
      c2 = batchAlignStep(c2, vN[l], l % 2 === 0, 1, T[l], rho[l]);
    }
    expect(checked).toBeGreaterThan(K / 2);
  });

  it('logMeanMoments: the log of a mean of B lognormals (Monte-Carlo, 200 000 draws)', () => {
    const rng = new Rng(14), out = new Float64Array(2);
    for (const [I, B] of [[1, 4], [3.5, 4], [3, 16]] as const) {
      const ys: number[] = [];
      for (let k = 0; k < 200000 / B; k++) { let s = 0; for (let b = 0; b < B; b++) s += Math.exp(Math.sqrt(I) * rng.normal() - I / 2); ys.push(Math.log(s / B)); }
      logMeanMoments(I, B, out);
      const { v, se } = varSe(ys), m = ys.reduce((a, b) => a + b, 0) / ys.length;
      expect(Math.abs(v - out[1])).toBeLessThan(4 * se + 0.01 * v); // + the grid's deposit variance (≤ 1 % at B = 4, docs)
      expect(Math.abs(m - out[0])).toBeLessThan(4 * Math.sqrt(v / ys.length) + 0.01 * Math.abs(m));
    }
  });
});


// Causal Post-LN stacks carry the spread of the same stack without the mask (src/engine.ts
// borrowSpread, an approximation). Checked against the stored 4096-seed PyTorch runs of the grid's
// d = 64 cases (fidelity/gpu/): the measured ln-std of layer-0 gradVar across models, causal. The rule,
// fixed before looking at the causal numbers: the predicted ln-std within 15 % of the measured one —
// the plain stacks' own agreement at these depths (0.55 vs 0.69 at N = 12 is the one outside, so N = 12
// is left out: the spread is derived for the collapsed stack, which N = 12 barely is).
describe.runIf(gpuStore !== null)('causal Post-LN: the unmasked spread carried over (4096-seed data)', () => {
  for (const N of [48, 96, 192]) {
    it(`d = 64, N = ${N}: layer-0 ln-std of gradVar, and the heavy-tail warning`, () => {
      const id = `d64-causal-post-LN-N${N}`;
      const c = gpuStore!.cases.find((x) => x.id === id)!;
      const m = gpuStore!.measurements.get(id)!.find((x) => x.source === 'PyTorch')!;
      const pred = compareGpu(c, m).pred;
      const s = pred.layers[0].gradSpread;
      expect(s).toBeDefined();
      const measured = m.gradLog![0]!.std, ours = Math.sqrt(s!.logVar);
      expect(Math.abs(ours - measured) / measured).toBeLessThan(0.15);
      expect(pred.warnings.some((w) => w.includes('heavy-tailed') && w.includes('causal mask'))).toBe(true);
    });
  }
});
