/**
 * Softmax over n logits. Component contract: the n logits of a row are iid with variance v (their
 * mean cancels); two rows' logit vectors are correlated entry-wise with coefficient ρ.
 *
 * Output: mean 1/n exactly. Variance (n²E[p²] − 1)/n² where E[p²] is computed EXACTLY (to
 * quadrature accuracy) for any n and v by the Laplace identity 1/a^m = ∫ t^{m−1}e^{−ta}dt/Γ(m):
 *   E[p_1^m] = (1/Γ(m)) ∫ du A_m(u) L(u)^{n−1},  A_m(u) = E[e^{m(u+x) − e^{u+x}}],
 *   L(u) = E[e^{−e^{u+x}}],  x ~ N(0, v)
 * (the n − 1 other logits are independent, so their Laplace transform factorises). This saturates
 * correctly (n²E[p²] → n as v → ∞) where DSLM's (e^{v} − 1)/n² diverges — derived here.
 * Row correlation: r_out = (e^{ρv} − 1)/(e^{v} − 1) (lognormal large-n form; exact at ρ = 0 and
 * ρ = 1; → ρ as v → 0).
 * Backward: dx_j = p_j(dp_j − Σ_k p_k dp_k) with upstream dp iid (variance σ_g²) ⇒
 *   Var = σ_g² (E[p²] − 2E[p³] + n E[p²]²) (E[p³] by the same identity), r_g,in = r_g · r_out.
 */
import { compile, defineBlock, gaussLegendre, normCdf, normPdf } from './_core.js';

export interface SoftmaxParams { n: number }

// ------------------------------------------------------------------ exact E[p^2], E[p^3]

const memo = new Map<string, { e2: number; e3: number }>();

/** Expectation of h(u + σZ) where h is concentrated on y ∈ [lo, hi] (σ ≥ 1: integrate over y). */
function smoothExpect(h: (y: number) => number, u: number, sigma: number, lo: number, hi: number, breakAt?: number): number {
  const { x, w } = gaussLegendre(8);
  let sum = 0;
  const cuts: number[] = [];
  for (let a = lo; a < hi - 1e-12; a += 1.5) cuts.push(a);
  cuts.push(hi);
  if (breakAt !== undefined && breakAt > lo && breakAt < hi && !cuts.includes(breakAt)) { cuts.push(breakAt); cuts.sort((a, b) => a - b); }
  for (let i = 0; i + 1 < cuts.length; i++) {
    const a = cuts[i], b = cuts[i + 1], half = (b - a) / 2, mid = (a + b) / 2;
    for (let k = 0; k < 8; k++) {
      const y = mid + half * x[k];
      sum += w[k] * half * h(y) * normPdf((y - u) / sigma) / sigma;
    }
  }
  return sum;
}

/** E over x ~ N(0, v) by z-quadrature (small σ). */
function zExpect(h: (y: number) => number, u: number, sigma: number): number {
  const { x, w } = gaussLegendre(64);
  let sum = 0;
  for (let k = 0; k < 64; k++) {
    const z = 10 * x[k];
    sum += 10 * w[k] * normPdf(z) * h(u + sigma * z);
  }
  return sum;
}

/** E[p^2] and E[p^3] of one softmax entry, n iid N(0, v) logits. Exact up to quadrature error (~1e-7). */
export function softmaxPowers(n: number, v: number): { e2: number; e3: number } {
  if (n === 1) return { e2: 1, e3: 1 };
  if (v < 1e-10) return { e2: 1 / (n * n), e3: 1 / (n * n * n) };
  const key = `${n}|${v.toPrecision(5)}`;
  const hit = memo.get(key);
  if (hit) return hit;
  const sigma = Math.sqrt(v);
  const h2 = (y: number) => Math.exp(2 * y - Math.exp(y));
  const h3 = (y: number) => Math.exp(3 * y - Math.exp(y));
  const big = sigma >= 1;
  const A = (h: (y: number) => number, u: number) => (big ? smoothExpect(h, u, sigma, -30, 5) : zExpect(h, u, sigma));
  const Lf = (u: number) => {
    if (!big) return zExpect((y) => Math.exp(-Math.exp(y)), u, sigma);
    // L = P(y<0) − E[(1 − e^{−e^y}) 1(y<0)] + E[e^{−e^y} 1(y>0)]
    const neg = smoothExpect((y) => (y < 0 ? -Math.expm1(-Math.exp(y)) : -Math.exp(-Math.exp(y))), u, sigma, -30, 5, 0);
    return normCdf(-u / sigma) - neg;
  };
  const lo = -v - 16 - Math.log(n) - 8 * sigma, hi = 8 * sigma + 6;
  const { x, w } = gaussLegendre(8);
  let s2 = 0, s3 = 0;
  for (let a = lo; a < hi; a += 1) {
    const b = Math.min(a + 1, hi), half = (b - a) / 2, mid = (a + b) / 2;
    for (let k = 0; k < 8; k++) {
      const u = mid + half * x[k];
      const Ln = Math.pow(Lf(u), n - 1);
      if (Ln === 0) continue;
      s2 += w[k] * half * A(h2, u) * Ln;
      s3 += w[k] * half * A(h3, u) * Ln;
    }
  }
  const r = { e2: s2, e3: s3 / 2 };
  if (memo.size > 20000) memo.clear();
  memo.set(key, r);
  return r;
}

/** n²E[p²] (≥ 1): the "effective averaging" factor: a softmax average of n iid values keeps
 * a fraction K/n of their variance. */
export function softmaxK2(n: number, v: number): number {
  return n * n * softmaxPowers(n, v).e2;
}

/** Correlation of two rows' softmax outputs whose logits have correlation rho (see header). */
export function softmaxRowCorr(v: number, rho: number): number {
  if (v < 1e-8) return rho;
  const den = Math.expm1(v);
  if (!Number.isFinite(den)) return rho >= 1 ? 1 : Math.exp(v * (rho - 1)); // e^{ρv}/e^{v}
  return Math.expm1(rho * v) / den;
}

// ------------------------------------------------------------------ block

const V = ['mu', 's', 'r', 'g', 'rg', 'n'];
const PAPER = {
  var: '(exp(s) - 1)/n^2',
  gradVar: 'g*exp(s)/n^2',
};
export const paperSoftmaxVar = compile(PAPER.var, V);

export const softmax = defineBlock<SoftmaxParams, { e2: number; e3: number; rOut: number }>({
  params: [{ name: 'n', kind: 'integer', min: 1, max: 1_000_000, doc: 'number of logits (softmax length)' }],
  doc: {
    name: 'softmax',
    title: 'Softmax over n iid logits',
    source: 'DSLM Softmax row for the small-variance limit; exact finite-n, any-variance moments by a Laplace-transform identity, derived here',
    assumptions: ['the n logits of a row iid Gaussian (variance s)', 'two rows correlated entry-wise (r)', 'upstream gradient iid within a row'],
    domain: 'any n >= 1, any s (saturates correctly); row correlation form is the large-n lognormal one',
    method: 'quadrature',
    symbols: { mu: 'logit mean (cancels)', s: 'logit variance', r: 'correlation between two rows’ logits', g: 'upstream gradient variance', rg: 'upstream gradient row correlation', n: 'softmax length', e2: 'E[p²]', e3: 'E[p³]' },
    forward: {
      mean: [{ expr: '1/n' }],
      var: [{ expr: 'e2 - 1/n^2', when: 'e2 exact by the Laplace identity' }, { expr: PAPER.var, when: 'DSLM approximation (s small, n large)' }],
      r: [{ expr: '(exp(r*s) - 1)/(exp(s) - 1)' }],
    },
    backward: {
      gradVar: [{ expr: 'g*(e2 - 2*e3 + n*e2^2)' }, { expr: PAPER.gradVar, when: 'DSLM approximation' }],
      gradR: [{ expr: 'rg*(exp(r*s) - 1)/(exp(s) - 1)' }],
    },
  },
  forward(p, x) {
    const { e2, e3 } = softmaxPowers(p.n, x.var);
    const v = Math.max(e2 - 1 / (p.n * p.n), 0);
    const rOut = softmaxRowCorr(x.var, x.r);
    return { out: { mean: 1 / p.n, var: v, r: rOut }, method: 'quadrature', warnings: [], cache: { e2, e3, rOut } };
  },
  backward(p, _x, f, g) {
    const { e2, e3, rOut } = f.cache;
    return { var: g.var * Math.max(e2 - 2 * e3 + p.n * e2 * e2, 0), r: g.r * rOut };
  },
});
