/**
 * The finite-width gap between config v1's r (the mean per-pair cosine) and the pooled correlation
 * the formulas propagate (formulas/_core.ts cosGap), and a norm taking it up (its output's pooled r is
 * its input's mean cosine). Predicted through the blocks' object API with the pair fluctuations of
 * an iid Gaussian input; measured by a float64 Monte-Carlo of token pairs written here (fresh weights
 * and inputs per trial, nothing imported from src/ or formulas/ for the measurement).
 * Rule, fixed before the run: |predicted − MC| ≤ 4·SE (SE = trial std/√trials, measured), and the
 * pooled r (what the norm passed on before) lies beyond 4·SE — the test could fail either way.
 */
import { describe, expect, it } from 'vitest';
import { Rng } from './mc/rng.js';
import { linear } from '../formulas/linear.js';
import { layernorm } from '../formulas/layernorm.js';
import { residualForward } from '../formulas/residual.js';
import type { Moments } from '../src/types.js';

const D = 64, R = 0.5, TRIALS = 100000;

function pair(rng: Rng): [Float64Array, Float64Array] {
  const a = new Float64Array(D), b = new Float64Array(D);
  for (let f = 0; f < D; f++) { const s = rng.normal(); a[f] = Math.sqrt(R) * s + Math.sqrt(1 - R) * rng.normal(); b[f] = Math.sqrt(R) * s + Math.sqrt(1 - R) * rng.normal(); }
  return [a, b];
}
/** W·a and W·b for a fresh W with iid N(0, 1/D) entries: given a and b, each output coordinate is a
 * bivariate normal with covariance [a·a, a·b; a·b, b·b]/D, drawn by its Cholesky factor (exact in
 * distribution, 2 normals per coordinate instead of a D × D matrix). */
function project(rng: Rng, [a, b]: Float64Array[]): Float64Array[] {
  let aa = 0, ab = 0, bb = 0;
  for (let f = 0; f < D; f++) { aa += a[f] * a[f]; ab += a[f] * b[f]; bb += b[f] * b[f]; }
  const l11 = Math.sqrt(aa / D), l21 = ab / D / l11, l22 = Math.sqrt(Math.max(bb / D - l21 * l21, 0));
  const ya = new Float64Array(D), yb = new Float64Array(D);
  for (let o = 0; o < D; o++) { const u = rng.normal(), v = rng.normal(); ya[o] = l11 * u; yb[o] = l21 * u + l22 * v; }
  return [ya, yb];
}
function ln(x: Float64Array): Float64Array {
  let m = 0; for (const v of x) m += v; m /= D;
  let s = 0; for (const v of x) s += (v - m) ** 2; s = Math.sqrt(s / D);
  return x.map((v) => (v - m) / s);
}
function cos(a: Float64Array, b: Float64Array): number {
  let ab = 0, aa = 0, bb = 0;
  for (let f = 0; f < D; f++) { ab += a[f] * b[f]; aa += a[f] * a[f]; bb += b[f] * b[f]; }
  return ab / Math.sqrt(aa * bb);
}
function mc(one: (rng: Rng) => number): { mean: number; se: number } {
  const rng = new Rng(20261127);
  let s = 0, s2 = 0;
  for (let t = 0; t < TRIALS; t++) { const c = one(rng); s += c; s2 += c * c; }
  const mean = s / TRIALS;
  return { mean, se: Math.sqrt(Math.max(s2 / TRIALS - mean * mean, 0) / TRIALS) };
}
/** d iid Gaussian features, token correlation r: κ = 2/d, Cov(B_i, B_j) = 2r²/d, Cov(A, B) = 2r/d */
const input: Moments = { mean: 0, var: 1, r: R, kappa: 2 / D, pairK2: (2 * R * R) / D, pairKA: (2 * R) / D };

describe('finite-width gap of the token correlation (mean per-pair cosine vs pooled r)', () => {
  it('linear 64 → 64 then LayerNorm: the norm reads the mean cosine after one Wishart sample', () => {
    const y = linear.forward({ dIn: D, dOut: D, std: 1 / Math.sqrt(D) }, input).out;
    const pred = layernorm.forward({ d: D }, y).out.r;
    const m = mc((rng) => { const [a, b] = pair(rng); const [ya, yb] = project(rng, [a, b]); return cos(ln(ya), ln(yb)); });
    console.log(`linear → LN: predicted ${pred.toFixed(4)}, MC ${m.mean.toFixed(4)} ± ${m.se.toFixed(4)}, pooled ${y.r.toFixed(4)}`);
    expect(Math.abs(pred - m.mean)).toBeLessThanOrEqual(4 * m.se);
    expect(Math.abs(y.r - m.mean)).toBeGreaterThan(4 * m.se);
  });
  it('normed skip + 2 × linear branch, then LayerNorm: the residual sum\'s cross terms', () => {
    const x = layernorm.forward({ d: D }, input).out; // normed: no pair fluctuations left
    const b = linear.forward({ dIn: D, dOut: D, std: 1 / Math.sqrt(D) }, x).out;
    const z = residualForward(1, 2, x, b, D); // branch weight β = 2: the branch carries 4/5 of the variance
    const pred = layernorm.forward({ d: D }, z).out.r;
    const m = mc((rng) => {
      const [a0, b0] = pair(rng); const xa = ln(a0), xb = ln(b0);
      const [fa, fb] = project(rng, [xa, xb]);
      return cos(ln(xa.map((v, f) => v + 2 * fa[f])), ln(xb.map((v, f) => v + 2 * fb[f])));
    });
    console.log(`LN → (x + 2Wx) → LN: predicted ${pred.toFixed(4)}, MC ${m.mean.toFixed(4)} ± ${m.se.toFixed(4)}, pooled ${z.r.toFixed(4)}`);
    expect(Math.abs(pred - m.mean)).toBeLessThanOrEqual(4 * m.se);
    expect(Math.abs(z.r - m.mean)).toBeGreaterThan(4 * m.se);
  });
});
