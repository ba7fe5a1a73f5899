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
//
// The u-integrand pieces A_2, A_3, L depend on v but not on n, so for each point of a grid in
// t = ln v (spacing 1/8) they are computed once; E[p^m] for any n is then one weighted sum over
// the u-nodes. Between grid points, ln(n^m E[p^m] − 1) − t is smooth in t and is interpolated
// with a cubic through the four nearest grid points (error < 1e-6 relative, see test).

const T_MIN = Math.log(1e-6), T_MAX = Math.log(1e4), T_STEP = 1 / 8;
const N_GRID = Math.round((T_MAX - T_MIN) / T_STEP) + 1;
/** largest ln n the u-range is built for */
const LN_N_MAX = Math.log(1 << 20);

interface UData { w: Float64Array; a2: Float64Array; a3: Float64Array; lnL: Float64Array }
const uData: (UData | undefined)[] = new Array(N_GRID);

/** Fixed y-nodes on [lo, hi] (pieces of width ≤ 1.5, a break at 0) for σ ≥ 1. */
function yNodes(): { y: Float64Array; w: Float64Array } {
  const { x, w } = gaussLegendre(8);
  const cuts: number[] = [];
  for (let a = -30; a < 0; a += 1.5) cuts.push(a);
  cuts.push(0, 1.25, 2.5, 3.75, 5);
  const Y: number[] = [], Wt: number[] = [];
  for (let i = 0; i + 1 < cuts.length; i++) {
    const a = cuts[i], b = cuts[i + 1], half = (b - a) / 2, mid = (a + b) / 2;
    for (let k = 0; k < 8; k++) { Y.push(mid + half * x[k]); Wt.push(w[k] * half); }
  }
  return { y: Float64Array.from(Y), w: Float64Array.from(Wt) };
}

function buildUData(v: number): UData {
  const sigma = Math.sqrt(v);
  const big = sigma >= 1;
  // per-u expectations of h2 = e^{2y−e^y}, h3 = e^{3y−e^y} and L = E[e^{−e^y}], y = u + σZ
  let expect: (u: number) => [number, number, number];
  if (big) {
    // integrate over y: E[h(u+σZ)] = ∫ h(y) φ((y−u)/σ)/σ dy; h is concentrated on [−30, 5]
    const { y, w } = yNodes();
    const H2 = y.map((t) => Math.exp(2 * t - Math.exp(t))), H3 = y.map((t) => Math.exp(3 * t - Math.exp(t)));
    // L = P(y < 0) − E[(1 − e^{−e^y}) 1(y<0)] + E[e^{−e^y} 1(y>0)]
    const HD = y.map((t) => (t < 0 ? -Math.expm1(-Math.exp(t)) : -Math.exp(-Math.exp(t))));
    const c = 1 / (sigma * Math.sqrt(2 * Math.PI));
    expect = (u) => {
      let a2 = 0, a3 = 0, d = 0;
      for (let i = 0; i < y.length; i++) {
        const z = (y[i] - u) / sigma;
        const k = w[i] * c * Math.exp(-0.5 * z * z);
        a2 += k * H2[i]; a3 += k * H3[i]; d += k * HD[i];
      }
      return [a2, a3, normCdf(-u / sigma) - d];
    };
  } else {
    const { x, w } = gaussLegendre(64);
    const Z = x.map((t) => 10 * t), WZ = x.map((t, i) => 10 * w[i] * normPdf(10 * t));
    expect = (u) => {
      let a2 = 0, a3 = 0, l = 0;
      for (let i = 0; i < 64; i++) {
        const E = Math.exp(u + sigma * Z[i]), eE = Math.exp(-E);
        a2 += WZ[i] * E * E * eE; a3 += WZ[i] * E * E * E * eE; l += WZ[i] * eE;
      }
      return [a2, a3, l];
    };
  }
  const lo = -v - 16 - LN_N_MAX - 8 * sigma, hi = 8 * sigma + 6;
  const width = Math.max(1, sigma / 2);
  const { x, w } = gaussLegendre(8);
  const W: number[] = [], A2: number[] = [], A3: number[] = [], LL: number[] = [];
  for (let a = lo; a < hi; a += width) {
    const b = Math.min(a + width, hi), half = (b - a) / 2, mid = (a + b) / 2;
    for (let k = 0; k < 8; k++) {
      const u = mid + half * x[k];
      const [a2, a3, L] = expect(u);
      if (!(L > 0)) continue;
      W.push(w[k] * half); A2.push(a2); A3.push(a3); LL.push(Math.log(Math.min(L, 1)));
    }
  }
  return { w: Float64Array.from(W), a2: Float64Array.from(A2), a3: Float64Array.from(A3), lnL: Float64Array.from(LL) };
}

/** F_m(n, grid point) = ln(n^m E[p^m] − 1) − t, memoised densely per grid point (index 2n, 2n+1). */
const gridMemo: (Float64Array | undefined)[] = new Array(N_GRID);
function gridValues(n: number, gi: number, out: Float64Array, at: number): void {
  let row = gridMemo[gi];
  if (!row || row.length < 2 * n + 2) {
    const grown = new Float64Array(Math.max(2 * n + 2, 2 * 1024 + 2)).fill(NaN);
    if (row) grown.set(row);
    row = grown; gridMemo[gi] = row;
  }
  if (Number.isNaN(row[2 * n])) {
    let d = uData[gi];
    const t = T_MIN + gi * T_STEP;
    if (!d) { d = buildUData(Math.exp(t)); uData[gi] = d; }
    let s2 = 0, s3 = 0;
    for (let i = 0; i < d.w.length; i++) {
      const Ln = Math.exp((n - 1) * d.lnL[i]);
      s2 += d.w[i] * d.a2[i] * Ln;
      s3 += d.w[i] * d.a3[i] * Ln;
    }
    const k2 = n * n * s2, k3 = (n * n * n * s3) / 2;
    row[2 * n] = Math.log(Math.max(k2 - 1, 1e-300)) - t;
    row[2 * n + 1] = Math.log(Math.max(k3 - 1, 1e-300)) - t;
  }
  out[at] = row[2 * n]; out[at + 1] = row[2 * n + 1];
}
const tmp = new Float64Array(2);

/** Cubic-interpolation stencil for ln v. */
function stencil(v: number): { g0: number; c: [number, number, number, number]; t: number } {
  const t = Math.log(v);
  let g = Math.floor((t - T_MIN) / T_STEP) - 1;
  g = Math.max(0, Math.min(N_GRID - 4, g));
  const x = (t - (T_MIN + g * T_STEP)) / T_STEP; // in [0, 3] relative to g
  // Lagrange weights at nodes 0,1,2,3
  const c: [number, number, number, number] = [
    (-(x - 1) * (x - 2) * (x - 3)) / 6, (x * (x - 2) * (x - 3)) / 2, (-x * (x - 1) * (x - 3)) / 2, (x * (x - 1) * (x - 2)) / 6,
  ];
  return { g0: g, c, t };
}

export const SOFTMAX_V_MAX = Math.exp(T_MAX);

/** E[p^2] and E[p^3] of one softmax entry, n iid N(0, v) logits. Exact up to quadrature and
 * interpolation error (~1e-6 relative). Above v = 1e4 the softmax is evaluated at v = 1e4 (one-hot
 * to within 1e-6). */
export function softmaxPowers(n: number, v: number): { e2: number; e3: number } {
  if (n === 1) return { e2: 1, e3: 1 };
  if (v < 1e-6) {
    // p_j ≈ (1 + x_j − x̄)/n: n²E[p²] = 1 + v(n−1)/n, n³E[p³] = 1 + 3v(n−1)/n
    return { e2: (1 + (v * (n - 1)) / n) / (n * n), e3: (1 + (3 * v * (n - 1)) / n) / (n * n * n) };
  }
  const { g0, c, t } = stencil(Math.min(v, SOFTMAX_V_MAX));
  let f2 = 0, f3 = 0;
  for (let k = 0; k < 4; k++) { gridValues(n, g0 + k, tmp, 0); f2 += c[k] * tmp[0]; f3 += c[k] * tmp[1]; }
  const k2 = 1 + Math.exp(f2 + t), k3 = 1 + Math.exp(f3 + t);
  return { e2: Math.min(k2, n) / (n * n), e3: Math.min(k3, n * n) / (n * n * n) };
}

/** Direct (non-interpolated) evaluation at an arbitrary v — used by tests to bound the
 * interpolation error. */
export function softmaxPowersDirect(n: number, v: number): { e2: number; e3: number } {
  const d = buildUData(v);
  let s2 = 0, s3 = 0;
  for (let i = 0; i < d.w.length; i++) { const Ln = Math.exp((n - 1) * d.lnL[i]); s2 += d.w[i] * d.a2[i] * Ln; s3 += d.w[i] * d.a3[i] * Ln; }
  return { e2: s2, e3: s3 / 2 };
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
