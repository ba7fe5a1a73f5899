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
 * Row correlation: for v < 0.05 the lognormal form (e^{ρv} − 1)/(e^{v} − 1) (exact as v → 0);
 * above, a deterministic quasi-Monte-Carlo table in (n, ln v, ρ) (see softmaxRowCorr) — the
 * lognormal form is far too low at finite n (n = 64, v = 16, ρ = 0.9: 0.20 vs 0.70 measured).
 * Backward: dx_j = p_j(dp_j − Σ_k p_k dp_k) with upstream dp iid within a row (variance σ_g²) ⇒
 *   Var = σ_g² (E[p²] − 2E[p³] + Q4/n), Q4 = E[(Σ_k p_k²)²] = nE[p⁴] + n(n−1)E[p₁²p₂²], every term
 *   exact by the same identity (E[p₁²p₂²] = ∫du A_2² L^{n−2}/Γ(4)).
 *   Two rows' input gradients: Cov = r_g σ_g² E[p_aj p_bj](1 − …) ⇒ r_g,in = r_g·C/K2 with
 *   C = n²E[p_a p_b] = 1 + r_out(K2 − 1) (for independent rows C = 1: r_g,in = r_g/K2).
 */
import { defineBlock, gaussLegendre, GridRows, normCdf, normPdf, NO_WARNINGS } from './_core.js';
import { SHIPPED } from './softmax-tables.js';

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

interface UData { w: Float64Array; a2: Float64Array; a3: Float64Array; a4: Float64Array; lnL: Float64Array }
const uData: (UData | undefined)[] = new Array(N_GRID);

/** Fixed y-nodes on [lo, hi] (pieces of width ≤ 1.5, a break at 0) for σ ≥ 1 (built once; read only). */
let yNodeMemo: { y: Float64Array; w: Float64Array } | undefined;
function yNodes(): { y: Float64Array; w: Float64Array } {
  return (yNodeMemo ??= buildYNodes());
}
function buildYNodes(): { y: Float64Array; w: Float64Array } {
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
  // u-nodes: 8-point Gauss–Legendre panels of width max(1, σ/2) on [lo, hi]
  const lo = -v - 16 - LN_N_MAX - 8 * sigma, hi = 8 * sigma + 6;
  const width = Math.max(1, sigma / 2);
  const { x, w } = gaussLegendre(8);
  const U: number[] = [], WU: number[] = [];
  let regular = 0; // panels of full width (the last may be cut at hi)
  for (let a = lo; a < hi; a += width) {
    const b = Math.min(a + width, hi), half = (b - a) / 2, mid = (a + b) / 2;
    if (b === a + width) regular++;
    for (let k = 0; k < 8; k++) { U.push(mid + half * x[k]); WU.push(w[k] * half); }
  }
  const nu = U.length;
  // per-u expectations of h2 = e^{2y−e^y}, h3 = e^{3y−e^y}, h4 and L = E[e^{−e^y}], y = u + σZ
  const A2 = new Float64Array(nu), A3 = new Float64Array(nu), A4 = new Float64Array(nu), LU = new Float64Array(nu);
  // the two branches in functions of their own: V8 optimises each on its own type feedback (in one
  // function the optimised code of the first branch run deoptimised on every call of the other)
  if (big) uExpectBig(U, nu, regular, width, sigma, v, A2, A3, A4, LU);
  else uExpectSmall(U, nu, sigma, A2, A3, A4, LU);
  const Wk: number[] = [], B2: number[] = [], B3: number[] = [], B4: number[] = [], LL: number[] = [];
  for (let j = 0; j < nu; j++) {
    if (!(LU[j] > 0)) continue;
    Wk.push(WU[j]); B2.push(A2[j]); B3.push(A3[j]); B4.push(A4[j]); LL.push(Math.log(Math.min(LU[j], 1)));
  }
  return { w: Float64Array.from(Wk), a2: Float64Array.from(B2), a3: Float64Array.from(B3), a4: Float64Array.from(B4), lnL: Float64Array.from(LL) };
}

let yPieceMemo: { H2: Float64Array; H3: Float64Array; H4: Float64Array; HD: Float64Array } | undefined;
/** buildUData's per-u expectations for σ ≥ 1 (integrated over y), into A2, A3, A4, LU */
function uExpectBig(U: number[], nu: number, regular: number, width: number, sigma: number, v: number, A2: Float64Array, A3: Float64Array, A4: Float64Array, LU: Float64Array): void {
  // integrate over y: E[h(u+σZ)] = ∫ h(y) φ((y−u)/σ)/σ dy; h is concentrated on [−30, 5]
  const { y, w: wy } = yNodes();
  const { H2, H3, H4, HD } = (yPieceMemo ??= {
    H2: y.map((t) => Math.exp(2 * t - Math.exp(t))), H3: y.map((t) => Math.exp(3 * t - Math.exp(t))), H4: y.map((t) => Math.exp(4 * t - Math.exp(t))),
    // L = P(y < 0) − E[(1 − e^{−e^y}) 1(y<0)] + E[e^{−e^y} 1(y>0)]
    HD: y.map((t) => (t < 0 ? -Math.expm1(-Math.exp(t)) : -Math.exp(-Math.exp(t)))),
  }); // v-independent: built once
  const c = 1 / (sigma * Math.sqrt(2 * Math.PI)), s2 = 2 * v;
  const D = new Float64Array(nu);
  // (the sums A_m[j] += t·H_m[i], D[j] += t·HD[i] written out in the loops: no call per term, which
  // the first, not yet optimised calls of a cold process pay for)
  // On the full-width panels the k-th node of each panel is an arithmetic sequence in u (step
  // `width`), so along it the kernel e^{−(y−u)²/2σ²} is a Gaussian in the panel index: from its
  // peak it is stepped by exact ratios (r ← r·g, g ← g·e^{−W²/σ²}) instead of an exp per (u, y),
  // down to underflow on both sides (the same sum as the direct one, to rounding)
  const W = width, C = Math.exp(-(W * W) / v);
  for (let i = 0; i < y.length; i++) {
    const kw = wy[i] * c, h2 = H2[i], h3 = H3[i], h4 = H4[i], hd = HD[i];
    for (let k = 0; k < 8 && regular > 0; k++) {
      const u0 = U[k];
      const ps = Math.min(regular - 1, Math.max(0, Math.round((y[i] - u0) / W)));
      const ds = y[i] - U[8 * ps + k], rs = Math.exp(-(ds * ds) / s2);
      if (rs === 0) continue;
      let j = 8 * ps + k, t = kw * rs;
      A2[j] += t * h2; A3[j] += t * h3; A4[j] += t * h4; D[j] += t * hd;
      let r = rs, g = Math.exp((2 * W * ds - W * W) / s2);
      for (let p = ps + 1; p < regular; p++) {
        r *= g; if (r === 0) break; g *= C;
        j = 8 * p + k; t = kw * r;
        A2[j] += t * h2; A3[j] += t * h3; A4[j] += t * h4; D[j] += t * hd;
      }
      r = rs; g = Math.exp(-(2 * W * ds + W * W) / s2);
      for (let p = ps - 1; p >= 0; p--) {
        r *= g; if (r === 0) break; g *= C;
        j = 8 * p + k; t = kw * r;
        A2[j] += t * h2; A3[j] += t * h3; A4[j] += t * h4; D[j] += t * hd;
      }
    }
    for (let j = 8 * regular; j < nu; j++) {
      const z = (y[i] - U[j]) / sigma, t = kw * Math.exp(-0.5 * z * z);
      A2[j] += t * h2; A3[j] += t * h3; A4[j] += t * h4; D[j] += t * hd;
    }
  }
  for (let j = 0; j < nu; j++) LU[j] = normCdf(-U[j] / sigma) - D[j];
}
/** buildUData's per-u expectations for σ < 1 (64-point Gauss–Legendre in z), into A2, A3, A4, LU */
function uExpectSmall(U: number[], nu: number, sigma: number, A2: Float64Array, A3: Float64Array, A4: Float64Array, LU: Float64Array): void {
  const g = gaussLegendre(64);
  const EZ = g.x.map((t) => Math.exp(sigma * 10 * t)), WZ = g.x.map((t, i) => 10 * g.w[i] * normPdf(10 * t));
  for (let j = 0; j < nu; j++) {
    const eu = Math.exp(U[j]);
    let a2 = 0, a3 = 0, a4 = 0, l = 0;
    for (let i = 0; i < 64; i++) {
      const E = eu * EZ[i], eE = Math.exp(-E), E2 = E * E;
      a2 += WZ[i] * E2 * eE; a3 += WZ[i] * E2 * E * eE; a4 += WZ[i] * E2 * E2 * eE; l += WZ[i] * eE;
    }
    A2[j] = a2; A3[j] = a3; A4[j] = a4; LU[j] = l;
  }
}

/** The three u-integrals for n logits: E[p²], E[p³] and Q4 = E[(Σ_k p_k²)²] = nE[p⁴] + n(n−1)E[p₁²p₂²],
 * with E[p^m] = ∫du A_m L^{n−1}/Γ(m) and E[p₁²p₂²] = ∫du A_2² L^{n−2}/Γ(4). */
function integrals(d: UData, n: number): [number, number, number] {
  let s2 = 0, s3 = 0, s4 = 0, s22 = 0;
  for (let i = 0; i < d.w.length; i++) {
    const Ln2 = Math.exp((n - 2) * d.lnL[i]), Ln = Ln2 * Math.exp(d.lnL[i]);
    s2 += d.w[i] * d.a2[i] * Ln;
    s3 += d.w[i] * d.a3[i] * Ln;
    s4 += d.w[i] * d.a4[i] * Ln;
    s22 += d.w[i] * d.a2[i] * d.a2[i] * Ln2;
  }
  return [s2, s3 / 2, (n * s4) / 6 + (n * (n - 1) * s22) / 6];
}

/** F(n, grid point) = [ln(n²E[p²] − 1), ln(n³E[p³] − 1), ln(n²Q4 − 1)] − t, memoised densely per grid point. */
const NV = 3;
const gridMemo: (Float64Array | undefined)[] = new Array(N_GRID);
function gridValues(n: number, gi: number, out: Float64Array): void {
  let row = gridMemo[gi];
  if (!row || row.length < NV * (n + 1)) {
    const grown = new Float64Array(Math.max(NV * (n + 1), NV * 1025)).fill(NaN);
    if (row) grown.set(row);
    row = grown; gridMemo[gi] = row;
  }
  if (Number.isNaN(row[NV * n])) {
    const sh = shippedGrid(n);
    if (sh) { out[0] = row[NV * n] = sh[NV * gi]; out[1] = row[NV * n + 1] = sh[NV * gi + 1]; out[2] = row[NV * n + 2] = sh[NV * gi + 2]; return; }
    computeGridValues(n, gi, row, NV * n);
  }
  out[0] = row[NV * n]; out[1] = row[NV * n + 1]; out[2] = row[NV * n + 2];
}
/** gridValues computed (not the shipped table), into row[j…j+2] */
function computeGridValues(n: number, gi: number, row: Float64Array, j: number): void {
  let d = uData[gi];
  const t = T_MIN + gi * T_STEP;
  if (!d) { d = buildUData(Math.exp(t)); uData[gi] = d; }
  const [e2, e3, q4] = integrals(d, n);
  row[j] = Math.log(Math.max(n * n * e2 - 1, 1e-300)) - t;
  row[j + 1] = Math.log(Math.max(n * n * n * e3 - 1, 1e-300)) - t;
  row[j + 2] = Math.log(Math.max(n * n * q4 - 1, 1e-300)) - t;
}

// ---- shipped tables (formulas/softmax-tables.ts, generated by scripts/gen-softmax-tables.mjs):
// the grid values and the row-correlation tables above for the row lengths n = 2, 4, …, 4096, the
// same numbers these functions compute (fixed seed, deterministic), so a first call at a
// power-of-two length does not pay for building them. test/softmax-tables.test.ts recomputes a
// sample of them and fails when the shipped data no longer match the code.
const shippedGridMemo = new Map<number, Float64Array | null>(), shippedRowMemo = new Map<number, Float64Array | null>();
function decodeF64(b64: string): Float64Array {
  const bin = atob(b64), u8 = new Uint8Array(bin.length);
  for (let i = 0; i < bin.length; i++) u8[i] = bin.charCodeAt(i);
  return new Float64Array(u8.buffer);
}
let useShipped = true;
/** Build every table from scratch (the generator; tests that compare against the shipped data). */
export function setShippedTables(on: boolean): void { useShipped = on; }
function shippedGrid(n: number): Float64Array | null {
  if (!useShipped) return null;
  let t = shippedGridMemo.get(n);
  if (t === undefined) { const e = SHIPPED[n]; t = e ? decodeF64(e.grid) : null; if (t && t.length !== NV * N_GRID) t = null; shippedGridMemo.set(n, t); }
  return t;
}
/** the shipped row-correlation table of length n: (2RHO_K + 1) values per grid point from ROW_GI0 */
function shippedRow(n: number, gi: number): Float64Array | null {
  if (!useShipped || gi < ROW_GI0) return null;
  let t = shippedRowMemo.get(n);
  if (t === undefined) { const e = SHIPPED[n]; t = e ? decodeF64(e.row) : null; if (t && t.length !== (2 * RHO_K + 1) * (N_GRID - ROW_GI0)) t = null; shippedRowMemo.set(n, t); }
  return t ? t.subarray((2 * RHO_K + 1) * (gi - ROW_GI0), (2 * RHO_K + 1) * (gi - ROW_GI0 + 1)) : null;
}
const shippedJacMemo = new Map<number, Float64Array | null>();
/** the shipped Jacobian-overlap table of length n at a coarse grid point (gi a multiple of OV_COARSE) */
function shippedJac(n: number, gi: number): Float64Array | null {
  if (!useShipped || gi % OV_COARSE !== 0) return null;
  let t = shippedJacMemo.get(n);
  const K = 2 * RHO_K + 1, nc = Math.floor((N_GRID - 1) / OV_COARSE) + 1;
  if (t === undefined) { const e = SHIPPED[n]; t = e?.jac ? decodeF64(e.jac) : null; if (t && t.length !== K * nc) t = null; shippedJacMemo.set(n, t); }
  const c = gi / OV_COARSE;
  return t && c < nc ? t.subarray(K * c, K * (c + 1)) : null;
}
/** The shipped row-correlation tables draw SHIPPED_BOOST times the rows of one built at run time
 * (seed-to-seed spread ≈ 0.015 at run time, shared by a whole table; ¼ of it shipped). */
export const SHIPPED_BOOST = 16;
/** One grid point's row-correlation table as the generator computes it (tests). */
export function computeRowTable(n: number, gi: number): Float64Array { return buildRowTable(n, gi, SHIPPED_BOOST); }
/** Raw tables for the generator: the grid values [3 per grid point] and row-correlation tables
 * [2RHO_K + 1 per grid point from ROW_GI0, SHIPPED_BOOST× the rows; rows: false leaves them 0] of
 * length n, computed (never shipped). */
export function computeSoftmaxTables(n: number, opts: { rows?: boolean; jac?: boolean } = {}): { grid: Float64Array; row: Float64Array; jac: Float64Array; rowGi0: number; gridPoints: number; rhoPoints: number; jacStep: number } {
  const K = 2 * RHO_K + 1, nc = Math.floor((N_GRID - 1) / OV_COARSE) + 1;
  const grid = new Float64Array(NV * N_GRID), row = new Float64Array(K * (N_GRID - ROW_GI0)), jac = new Float64Array(K * nc);
  for (let gi = 0; gi < N_GRID; gi++) computeGridValues(n, gi, grid, NV * gi);
  if (opts.rows !== false) for (let gi = ROW_GI0; gi < N_GRID; gi++) row.set(buildRowTable(n, gi, SHIPPED_BOOST), K * (gi - ROW_GI0));
  if (opts.jac !== false) for (let c = 0; c < nc; c++) jac.set(buildJacTable(n, c * OV_COARSE), K * c);
  return { grid, row, jac, rowGi0: ROW_GI0, gridPoints: N_GRID, rhoPoints: K, jacStep: OV_COARSE };
}
/** One coarse grid point's Jacobian-overlap table as the generator computes it (tests). */
export function computeJacTable(n: number, gi: number): Float64Array { return buildJacTable(n, gi); }
const tmp = new Float64Array(NV);

export const SOFTMAX_V_MAX = Math.exp(T_MAX);

export interface SoftmaxPowers { e2: number; e3: number; q4: number }

/** E[p²], E[p³] and Q4 = E[(Σ_k p_k²)²] for one softmax row of n iid N(0, v) logits. Exact up to
 * quadrature and interpolation error (~1e-5 relative). Above v = 1e4 the softmax is evaluated at
 * v = 1e4 (one-hot to within 1e-6). */
export function softmaxPowers(n: number, v: number): SoftmaxPowers {
  powersInto(n, v, PW);
  return { e2: PW[0], e3: PW[1], q4: PW[2] };
}
const PW = new Float64Array(3);

/** softmaxPowers without allocation: out = [E[p²], E[p³], Q4]. */
export function powersInto(n: number, v: number, out: Float64Array): void {
  if (n === 1) { out[0] = 1; out[1] = 1; out[2] = 1; return; }
  if (v < 1e-6) {
    // p_j ≈ (1 + x_j − x̄)/n: n²E[p²] = 1 + v(n−1)/n, n³E[p³] = 1 + 3v(n−1)/n, n²Q4 = 1 + 4v(n−1)/n²
    const a = (v * (n - 1)) / n;
    out[0] = (1 + a) / (n * n); out[1] = (1 + 3 * a) / (n * n * n); out[2] = (1 + (4 * a) / n) / (n * n);
    return;
  }
  interpPowers(n, Math.log(Math.min(v, SOFTMAX_V_MAX)), out);
}

/** [E[p²], E[p³], Q4] for n logits at t = ln v, into out: the cubic Lagrange interpolation in t
 * through the four nearest grid points (the memoised row of each when it holds n; gridValues fills
 * it otherwise), the stencil in locals. */
function interpPowers(n: number, t: number, out: Float64Array): void {
  let g = Math.floor((t - T_MIN) / T_STEP) - 1;
  g = Math.max(0, Math.min(N_GRID - 4, g));
  const x = (t - (T_MIN + g * T_STEP)) / T_STEP; // in [0, 3] relative to g
  const c0 = (-(x - 1) * (x - 2) * (x - 3)) / 6, c1 = (x * (x - 2) * (x - 3)) / 2;
  const c2 = (-x * (x - 1) * (x - 3)) / 2, c3 = (x * (x - 1) * (x - 2)) / 6;
  const j = NV * n;
  const r0 = memoRow(n, g, j), r1 = memoRow(n, g + 1, j), r2 = memoRow(n, g + 2, j), r3 = memoRow(n, g + 3, j);
  const f2 = c0 * r0[j] + c1 * r1[j] + c2 * r2[j] + c3 * r3[j];
  const f3 = c0 * r0[j + 1] + c1 * r1[j + 1] + c2 * r2[j + 1] + c3 * r3[j + 1];
  const fq = c0 * r0[j + 2] + c1 * r1[j + 2] + c2 * r2[j + 2] + c3 * r3[j + 2];
  const k2 = 1 + Math.exp(f2 + t), k3 = 1 + Math.exp(f3 + t), kq = 1 + Math.exp(fq + t);
  out[0] = Math.min(k2, n) / (n * n); out[1] = Math.min(k3, n * n) / (n * n * n); out[2] = Math.min(kq, n * n) / (n * n);
}
/** grid point gi's memoised row, filled for n (j = NV·n) */
function memoRow(n: number, gi: number, j: number): Float64Array {
  const row = gridMemo[gi];
  if (row !== undefined && row.length > j + 2 && row[j] === row[j]) return row;
  gridValues(n, gi, tmp);
  return gridMemo[gi]!;
}

/** Σ_j E[p_j² (1 − 2p_j + Σ_k p_k²)] = n(E[p²] − 2E[p³]) + Q4: the factor by which a softmax row of
 * n entries passes an iid upstream gradient (dx_j = p_j(dp_j − Σ_k p_k dp_k)). → 0 as the softmax
 * saturates. */
export function jacobianGain(n: number, e2: number, e3: number, q4: number): number {
  return Math.max(n * (e2 - 2 * e3) + q4, 0);
}

/** K2 = n²E[p²], the Jacobian gain J (jacobianGain) and Q4 for one row length, without
 * allocation: out = [K2, J, Q4]. */
export function softmaxStatsInto(n: number, v: number, out: Float64Array): void {
  if (n === 1) { out[0] = 1; out[1] = 0; out[2] = 1; return; }
  powersInto(n, v, PW);
  const e2 = PW[0], e3 = PW[1], q4 = PW[2];
  out[0] = n * n * e2; out[1] = jacobianGain(n, e2, e3, q4); out[2] = q4;
}

/** softmaxPowers for every n = 1..nMax at one logit variance (causal rows), sharing the stencil:
 * returns K2[n] = n²E[p²], the Jacobian gain J[n] (jacobianGain) and Q4[n] = E[(Σ_k p_k²)²]. */
export function softmaxRows(v: number, nMax: number): { k2: Float64Array; jac: Float64Array; q4: Float64Array } {
  const k2 = new Float64Array(nMax + 1), jac = new Float64Array(nMax + 1), q4 = new Float64Array(nMax + 1);
  if (nMax >= 1) { k2[1] = 1; jac[1] = 0; q4[1] = 1; }
  const small = v < 1e-6;
  const t = Math.log(Math.min(v, SOFTMAX_V_MAX));
  for (let n = 2; n <= nMax; n++) {
    if (small) powersInto(n, v, PW); else interpPowers(n, t, PW);
    k2[n] = n * n * PW[0]; jac[n] = jacobianGain(n, PW[0], PW[1], PW[2]); q4[n] = PW[2];
  }
  return { k2, jac, q4 };
}

/** Direct (non-interpolated) evaluation at an arbitrary v — used by tests to bound the
 * interpolation error. */
export function softmaxPowersDirect(n: number, v: number): SoftmaxPowers {
  const [e2, e3, q4] = integrals(buildUData(v), n);
  return { e2, e3, q4 };
}

// ------------------------------------------------------------------ T = E[Σ_j P_j²(z_j − z̄_P)²]
//
// The Q path's gain along the query's own direction (formulas/attention.ts, derived there): for a
// softmax row P = softmax(√v z) of n iid standard z (z_j the standardised logits),
//   T = E[Σ_j P_j²(z_j − z̄_P)²],  z̄_P = Σ_j P_j z_j,
// what the Jacobian gain J = E[Σ_j P_j²(1 − 2P_j + Σ_k P_k²)] becomes when the vector the row's
// Jacobian acts on is the logits themselves instead of independent of them (→ J as v → 0, → 0 as
// the row saturates, faster than J). Expanded over coinciding indices it is seven expectations of
// products of softmax powers and z's, each exact by the Laplace identity above with the key factors
// B_{a,g}(u) = E[g(z) e^{a(u+x) − e^{u+x}}], x = √v z:
//   T = n E[p²z²] − 2n E[p³z²] − 2n(n−1) E[p₁²z₁ p₂z₂] + n E[p⁴z²] + 2n(n−1) E[p₁³z₁ p₂z₂]
//     + n(n−1) E[p₁² p₂²z₂²] + n(n−1)(n−2) E[p₁² p₂z₂ p₃z₃],
// E[Π_i p_i^{a_i} g_i(z_i)] = (1/Γ(A)) ∫du Π_i B_{a_i,g_i}(u) L(u)^{n−m} (A = Σa_i, m indices).
// Deterministic quadrature (same u- and y-nodes as buildUData) on every T_COARSE-th point of the
// grid in ln v (step 1/2: T and W are smooth in ln v and enter the Q path with weight f ≤ ~1/4, and
// building the pieces is the cost), ln T and ln W interpolated cubically between them (relative
// error < 0.3 % for n ≤ 128, T 0.5 % / 0.9 % at n = 512 / 4096, W 2 % at 4096: ≤ 0.25 % of the Q
// path; test/attention-qpath.test.ts), memoised per (n, coarse point); built only when T is asked
// for (the Q path of attention).
interface TData {
  w: Float64Array; lnL: Float64Array; a2: Float64Array; b2zz: Float64Array; b3zz: Float64Array; b4zz: Float64Array; b1z: Float64Array; b2z: Float64Array; b3z: Float64Array;
  /** W's extra factors: B_{1,z²}, B_{2,z³}, B_{3,z³}, B_{2,z⁴}, B_{3,z⁴}, B_{4,z⁴} */
  b1zz: Float64Array; b2z3: Float64Array; b3z3: Float64Array; b2z4: Float64Array; b3z4: Float64Array; b4z4: Float64Array;
}
const T_COARSE = 4, T_NC = Math.floor((N_GRID - 1) / T_COARSE) + 1;
const tData: (TData | undefined)[] = new Array(T_NC);

function buildTData(v: number): TData {
  const sigma = Math.sqrt(v);
  // per u: [A_2, B_2zz, B_3zz, B_4zz, B_1z, B_2z, B_3z, B_1zz, B_2z3, B_3z3, B_2z4, B_3z4, B_4z4, L]
  const NB = 13, R = new Float64Array(NB + 1);
  let expect: (u: number) => void;
  if (sigma >= 1) {
    const { y, w } = yNodes();
    const H1 = y.map((t) => Math.exp(t - Math.exp(t))), H2 = y.map((t) => Math.exp(2 * t - Math.exp(t)));
    const H3 = y.map((t) => Math.exp(3 * t - Math.exp(t))), H4 = y.map((t) => Math.exp(4 * t - Math.exp(t)));
    const HD = y.map((t) => (t < 0 ? -Math.expm1(-Math.exp(t)) : -Math.exp(-Math.exp(t))));
    const c = 1 / (sigma * Math.sqrt(2 * Math.PI));
    expect = (u) => {
      let a2 = 0, b2zz = 0, b3zz = 0, b4zz = 0, b1z = 0, b2z = 0, b3z = 0, dd = 0;
      let b1zz = 0, b2z3 = 0, b3z3 = 0, b2z4 = 0, b3z4 = 0, b4z4 = 0;
      for (let i = 0; i < y.length; i++) {
        const z = (y[i] - u) / sigma;
        const k = w[i] * c * Math.exp(-0.5 * z * z), kz = k * z, kzz = kz * z, kz3 = kzz * z, kz4 = kz3 * z;
        a2 += k * H2[i]; b2zz += kzz * H2[i]; b3zz += kzz * H3[i]; b4zz += kzz * H4[i];
        b1z += kz * H1[i]; b2z += kz * H2[i]; b3z += kz * H3[i]; dd += k * HD[i];
        b1zz += kzz * H1[i]; b2z3 += kz3 * H2[i]; b3z3 += kz3 * H3[i]; b2z4 += kz4 * H2[i]; b3z4 += kz4 * H3[i]; b4z4 += kz4 * H4[i];
      }
      R[0] = a2; R[1] = b2zz; R[2] = b3zz; R[3] = b4zz; R[4] = b1z; R[5] = b2z; R[6] = b3z;
      R[7] = b1zz; R[8] = b2z3; R[9] = b3z3; R[10] = b2z4; R[11] = b3z4; R[12] = b4z4; R[NB] = normCdf(-u / sigma) - dd;
    };
  } else {
    const { x, w } = gaussLegendre(64);
    const Z = x.map((t) => 10 * t), WZ = x.map((t, i) => 10 * w[i] * normPdf(10 * t));
    expect = (u) => {
      let a2 = 0, b2zz = 0, b3zz = 0, b4zz = 0, b1z = 0, b2z = 0, b3z = 0, l = 0;
      let b1zz = 0, b2z3 = 0, b3z3 = 0, b2z4 = 0, b3z4 = 0, b4z4 = 0;
      for (let i = 0; i < 64; i++) {
        const z = Z[i], E = Math.exp(u + sigma * z), eE = Math.exp(-E), k = WZ[i] * eE, kz = k * z, kzz = kz * z, kz3 = kzz * z, kz4 = kz3 * z;
        const h2 = E * E, h3 = h2 * E, h4 = h2 * h2;
        a2 += k * h2; b2zz += kzz * h2; b3zz += kzz * h3; b4zz += kzz * h4;
        b1z += kz * E; b2z += kz * h2; b3z += kz * h3; l += k;
        b1zz += kzz * E; b2z3 += kz3 * h2; b3z3 += kz3 * h3; b2z4 += kz4 * h2; b3z4 += kz4 * h3; b4z4 += kz4 * h4;
      }
      R[0] = a2; R[1] = b2zz; R[2] = b3zz; R[3] = b4zz; R[4] = b1z; R[5] = b2z; R[6] = b3z;
      R[7] = b1zz; R[8] = b2z3; R[9] = b3z3; R[10] = b2z4; R[11] = b3z4; R[12] = b4z4; R[NB] = l;
    };
  }
  // every term carries a key factor B, which is < e^{-72} of its size once u < −30 − 12σ (the y-nodes
  // stop at −30, the Gaussian kernel is then 12σ away): the u-range stops there (buildUData's −v
  // reaches −10⁴ at v = 10⁴ and made a grid point cost ~10× more)
  const lo = Math.max(-v - 16 - LN_N_MAX - 8 * sigma, -30 - 12 * sigma), hi = 8 * sigma + 6;
  const width = Math.max(1, sigma / 2);
  const { x, w } = gaussLegendre(8);
  const cols: number[][] = Array.from({ length: NB + 2 }, () => []);
  for (let a = lo; a < hi; a += width) {
    const b = Math.min(a + width, hi), half = (b - a) / 2, mid = (a + b) / 2;
    for (let k = 0; k < 8; k++) {
      expect(mid + half * x[k]);
      const L = R[NB];
      if (!(L > 0)) continue;
      cols[0].push(w[k] * half); cols[1].push(Math.log(Math.min(L, 1)));
      for (let q = 0; q < NB; q++) cols[2 + q].push(R[q]);
    }
  }
  const f = cols.map((c) => Float64Array.from(c));
  return {
    w: f[0], lnL: f[1], a2: f[2], b2zz: f[3], b3zz: f[4], b4zz: f[5], b1z: f[6], b2z: f[7], b3z: f[8],
    b1zz: f[9], b2z3: f[10], b3z3: f[11], b2z4: f[12], b3z4: f[13], b4z4: f[14],
  };
}

/** [T, W, M2, W2] for n logits from the u-integrals (see above; M2 = E[z̄_P²] = E[(Σ_j P_j z_j)²]
 * = n E[p²z²] + n(n−1) E[p₁z₁ p₂z₂] and W2 = E[Σ_j P_j² z_j²] = n E[p²z²], the tilt's statistics:
 * softmaxTiltInto), into out */
function tIntegral(d: TData, n: number, out: Float64Array): void {
  let i1 = 0, i2 = 0, i3 = 0, i4 = 0, i5 = 0, i6 = 0, i7 = 0, m11 = 0;
  // W = E[A²] − 2E[AB²] + E[B⁴], A = Σ P z², B = Σ P z (index patterns: see above)
  let a1 = 0, a2 = 0, c1 = 0, c2 = 0, c3 = 0, c4 = 0, e1 = 0, e2 = 0, e3 = 0, e4 = 0, e5 = 0;
  for (let i = 0; i < d.w.length; i++) {
    const l = d.lnL[i], Ln4 = n >= 4 ? Math.exp((n - 4) * l) : 0, el = Math.exp(l), Ln3 = n >= 3 ? Math.exp((n - 3) * l) : 0, Ln2 = Math.exp((n - 2) * l), Ln1 = Ln2 * el, w = d.w[i];
    const b1 = d.b1z[i], b1s = b1 * b1, q2 = d.b2zz[i], o2 = d.b1zz[i];
    i1 += w * q2 * Ln1; i2 += w * d.b3zz[i] * Ln1; i4 += w * d.b4zz[i] * Ln1;
    i3 += w * d.b2z[i] * b1 * Ln2; i5 += w * d.b3z[i] * b1 * Ln2; i6 += w * d.a2[i] * q2 * Ln2;
    i7 += w * d.a2[i] * b1s * Ln3; m11 += w * b1s * Ln2;
    a1 += w * d.b2z4[i] * Ln1; a2 += w * o2 * o2 * Ln2;
    c1 += w * d.b3z4[i] * Ln1; c2 += w * d.b2z3[i] * b1 * Ln2; c3 += w * o2 * q2 * Ln2; c4 += w * o2 * b1s * Ln3;
    e1 += w * d.b4z4[i] * Ln1; e2 += w * d.b3z3[i] * b1 * Ln2; e3 += w * q2 * q2 * Ln2; e4 += w * q2 * b1s * Ln3; e5 += w * b1s * b1s * Ln4;
  }
  const n1 = n * (n - 1), n2 = n1 * (n - 2), n3 = n2 * (n - 3);
  out[0] = n * i1 - n * i2 - n1 * i3 + (n * i4) / 6 + (n1 * i5) / 3 + (n1 * i6) / 6 + (n2 * i7) / 6;
  const EA2 = n * a1 + n1 * a2; // Γ(2) = 1
  const EAB2 = (n * c1 + 2 * n1 * c2 + n1 * c3 + n2 * c4) / 2; // Γ(3) = 2
  const EB4 = (n * e1 + 4 * n1 * e2 + 3 * n1 * e3 + 6 * n2 * e4 + n3 * e5) / 6; // Γ(4) = 6
  out[1] = EA2 - 2 * EAB2 + EB4;
  out[2] = n * i1 + n1 * m11; // Γ(2) = 1
  out[3] = n * i1;
}
const TW = new Float64Array(4);

/** grid point gi's memoised row [ln T, ln W, ln M2, ln W2] per n, filled for n (NaN: not yet computed) */
const tMemo: (Float64Array | undefined)[] = new Array(T_NC);
const TN = 4;
function tRow(n: number, gi: number): Float64Array {
  let row = tMemo[gi];
  if (!row || row.length <= TN * n + TN - 1) {
    const grown = new Float64Array(Math.max(TN * n + TN, TN * 1025)).fill(NaN);
    if (row) grown.set(row);
    row = grown; tMemo[gi] = row;
  }
  if (row[TN * n] !== row[TN * n]) {
    const sh = shippedTq(n);
    if (sh) for (let q = 0; q < TN; q++) row[TN * n + q] = sh[TN * gi + q];
    else if (!tqInLog2n(n, gi, row, TN * n)) computeTRow(n, gi, row, TN * n);
  }
  return row;
}
/** [ln T, ln W, ln M2, ln W2] at coarse point gi for n by the quadrature (never shipped), into out[o…] */
function computeTRow(n: number, gi: number, out: Float64Array, o: number): void {
  let d = tData[gi];
  if (!d) { d = buildTData(Math.exp(T_MIN + gi * T_COARSE * T_STEP)); tData[gi] = d; }
  tIntegral(d, n, TW);
  // floor 1e-10: the quadrature's absolute error (~1e-7 where W ~ 1e-8, v ≳ 1000: its terms cancel
  // from O(z_max⁴)) must not enter the log-interpolation as ln 0; W enters the Q path as fW/d
  out[o] = Math.log(Math.max(TW[0], 1e-10)); out[o + 1] = Math.log(Math.max(TW[1], 1e-10));
  out[o + 2] = Math.log(Math.max(TW[2], 1e-300)); out[o + 3] = Math.log(Math.max(TW[3], 1e-300));
}
/** the shipped T grid of length n (TN values per coarse point), or null */
const shippedTqMemo = new Map<number, Float64Array | null>();
function shippedTq(n: number): Float64Array | null {
  if (!useShipped) return null;
  let t = shippedTqMemo.get(n);
  if (t === undefined) { const e = SHIPPED[n]; t = e?.tq ? decodeF64(e.tq) : null; if (t && t.length !== TN * T_NC) t = null; shippedTqMemo.set(n, t); }
  return t;
}
/** Lengths between the shipped ones above TQ_INTERP_MIN: the four logs cubic in log₂ n through the
 * four nearest shipped lengths — a length that is not a power of two then costs no quadrature
 * (buildTData is the cold cost of a component request at a new length). Against the quadrature at
 * n (test/attention-tilt.test.ts), n = 24 … 3000, v ≤ 300: T ≤ 0.06 %, M2 ≤ 0.11 %, W2 ≤ 0.02 %,
 * W ≤ 0.2 % (W above v ≈ 500 is below the quadrature's own absolute error, ~1e-7, and enters as
 * fW/d); below it (n = 3: T 1.1 %) the quadrature runs at n. False where not interpolated. */
const TQ_INTERP_MIN = 16;
function tqInLog2n(n: number, gi: number, out: Float64Array, o: number): boolean {
  if (!useShipped || !(n > TQ_INTERP_MIN)) return false;
  const t = interpInLog2n(n, (m) => shippedTq(m)?.subarray(TN * gi, TN * gi + TN) ?? null, false);
  if (t) out.set(t, o);
  return t !== null;
}
/** The T grid of length n as the generator ships it (TN values per coarse point: tRow's layout). */
export function computeTqTable(n: number): Float64Array {
  const out = new Float64Array(TN * T_NC);
  for (let gi = 0; gi < T_NC; gi++) computeTRow(n, gi, out, TN * gi);
  return out;
}
/** tRow's four logs at (n, coarse point gi) by the quadrature, bypassing the shipped tables (tests). */
export function tqDirectRow(n: number, gi: number): Float64Array {
  const out = new Float64Array(TN);
  computeTRow(n, gi, out, 0);
  return out;
}
/** the number of coarse points of the T grid and their ln v (tests) */
export const TQ_GRID = { points: T_NC, lnv: (gi: number) => T_MIN + gi * T_COARSE * T_STEP };

/** T(n, v) = E[Σ_j P_j²(z_j − z̄_P)²] for one softmax row of n iid N(0, v) logits (P = softmax(√v z)):
 * the Q path's Jacobian gain along the query's own direction (formulas/attention.ts). Cubic in ln v
 * between grid points on ln T; v < 1e-6: T = J (their common limit); above 1e4 at 1e4. n < 2: 0. */
export function softmaxTq(n: number, v: number): number {
  softmaxTqInto(n, v, TQO);
  return TQO[0];
}
/** [T, W] for one softmax row of n iid N(0, v) logits into out: T = softmaxTq and
 * W = E[S_w²], S_w = Σ_j P_j(z_j − z̄_P)² the softmax-weighted variance of the standardised logits
 * (the Q path's coherent key–value term along the query's logit direction, formulas/attention.ts
 * qPathGain). Cubic in ln v on ln T, ln W; v < 1e-6 (and v = 0): their limits (T = J, W = (n² − 1)/n²,
 * the uniform row's sample variance: E[(χ²_{n−1}/n)²]); n < 2: zeros. */
export function softmaxTqInto(n: number, v: number, out: Float64Array): void {
  if (n < 2 || !(v >= 1e-6)) { rowStatsLimits(n, v, RS4); out[0] = RS4[0]; out[1] = RS4[1]; return; }
  tGridInto(n, v, 0, 2, out);
}
/** [M2, W2] for one softmax row of n iid N(0, v) logits into out: M2 = E[z̄_P²], z̄_P = Σ_j P_j z_j
 * the softmax-weighted mean of the standardised logits, and W2 = E[Σ_j P_j² z_j²] — attention's
 * tilt (formulas/attention.ts tiltVar): along the row's logit direction a token's private part IS
 * its logit, so the weighted mean of n private parts has E|Σ_j P_j e_j|² = (d − 1)S2 + M2, not
 * d·S2 (S2 = E Σ_j P_j², attention dropout adding W2·p/(1 − p)). Cubic in ln v on ln M2, ln W2 (the
 * grid of softmaxTqInto); v < 1e-6: first order in v (expanding P_j = e^{√v ζ_j − v m₂/2}/n, ζ = z − z̄,
 * m₂ = mean ζ²): M2 = S2 + v(n − 1)/n, W2 = S2 + v(n − 1)(4n − 6)/n³ (the quadrature at v = 1e-5 and
 * 1e-4, n = 2 / 7 / 32, agrees to 3e-4 relative); n < 2: 1 (z̄ = z). */
export function softmaxTiltInto(n: number, v: number, out: Float64Array): void {
  if (n < 2 || !(v >= 1e-6)) { rowStatsLimits(n, v, RS4); out[0] = RS4[2]; out[1] = RS4[3]; return; }
  tGridInto(n, v, 2, 2, out);
}
/** [T, W, M2, W2] of one softmax row (softmaxTqInto and softmaxTiltInto in one stencil) into out. */
export function softmaxRowStatsInto(n: number, v: number, out: Float64Array): void {
  if (n < 2 || !(v >= 1e-6)) rowStatsLimits(n, v, out);
  else tGridInto(n, v, 0, 4, out);
}
/** [T, W, M2, W2] where the grid does not apply: n < 2 (T = W = 0, M2 = W2 = 1: z̄ = z) and v < 1e-6
 * (v ≤ 0 as 0): T = J, W = (n² − 1)/n², M2 and W2 to first order (see softmaxTiltInto). */
function rowStatsLimits(n: number, v: number, out: Float64Array): void {
  if (n < 2) { out[0] = 0; out[1] = 0; out[2] = 1; out[3] = 1; return; }
  const vv = v > 0 ? v : 0;
  softmaxStatsInto(n, vv, TQS);
  const s2 = TQS[0] / n;
  out[0] = TQS[1]; out[1] = ((n - 1) * (n + 1)) / (n * n);
  out[2] = s2 + (vv * (n - 1)) / n; out[3] = s2 + (vv * (n - 1) * (4 * n - 6)) / (n * n * n);
}
/** columns off … off + cnt − 1 of the T grid (tRow) at (n, v ≥ 1e-6), cubic in ln v, into out[0…] */
function tGridInto(n: number, v: number, off: number, cnt: number, out: Float64Array): void {
  const t = Math.log(Math.min(v, SOFTMAX_V_MAX)), h = T_STEP * T_COARSE;
  let g = Math.floor((t - T_MIN) / h) - 1;
  g = Math.max(0, Math.min(T_NC - 4, g));
  const x = (t - (T_MIN + g * h)) / h;
  const c0 = (-(x - 1) * (x - 2) * (x - 3)) / 6, c1 = (x * (x - 2) * (x - 3)) / 2;
  const c2 = (-x * (x - 1) * (x - 3)) / 2, c3 = (x * (x - 1) * (x - 2)) / 6;
  const r0 = tRow(n, g), r1 = tRow(n, g + 1), r2 = tRow(n, g + 2), r3 = tRow(n, g + 3);
  for (let q = 0, j = TN * n + off; q < cnt; q++, j++) out[q] = Math.exp(c0 * r0[j] + c1 * r1[j] + c2 * r2[j] + c3 * r3[j]);
}
const TQS = new Float64Array(3), TQO = new Float64Array(2), RS4 = new Float64Array(4);
/** softmaxRowStatsInto for every n = 1..nMax at one v (causal rows): { tq, w, m2, w2 }. */
export function softmaxRowStatsRows(v: number, nMax: number): { tq: Float64Array; w: Float64Array; m2: Float64Array; w2: Float64Array } {
  const tq = new Float64Array(nMax + 1), w = new Float64Array(nMax + 1), m2 = new Float64Array(nMax + 1), w2 = new Float64Array(nMax + 1);
  for (let n = 1; n <= nMax; n++) { softmaxRowStatsInto(n, v, RS4); tq[n] = RS4[0]; w[n] = RS4[1]; m2[n] = RS4[2]; w2[n] = RS4[3]; }
  return { tq, w, m2, w2 };
}
/** [T, W] by the quadrature at v itself (no grid; tests bound the interpolation error with it). */
export function softmaxTqDirect(n: number, v: number): { tq: number; w: number; m2: number; w2: number } {
  if (n < 2) return { tq: 0, w: 0, m2: 1, w2: 1 };
  tIntegral(buildTData(v), n, TW);
  return { tq: TW[0], w: TW[1], m2: TW[2], w2: TW[3] };
}

/** n²E[p²] (≥ 1): the "effective averaging" factor: a softmax average of n iid values keeps
 * a fraction K/n of their variance. */
export function softmaxK2(n: number, v: number): number {
  if (n === 1) return 1;
  powersInto(n, v, PW);
  return n * n * PW[0];
}

/** Large-n lognormal form of the row correlation: (e^{ρv} − 1)/(e^{v} − 1). Exact at ρ = 0, ρ = 1
 * and for v → 0; too low once v ≳ 1 at finite n (the largest logit dominates both rows). */
export function softmaxRowCorrLognormal(v: number, rho: number): number {
  if (v < 1e-8) return rho;
  const den = Math.expm1(v);
  if (!Number.isFinite(den)) return rho >= 1 ? 1 : Math.exp(v * (rho - 1)); // e^{ρv}/e^{v}
  return Math.expm1(rho * v) / den;
}

// Row correlation by deterministic quasi-Monte-Carlo (method "monte-carlo", fixed seed): for each
// (n, grid point in ln v) the rows x_a = √v z, x_b = √v (ρ z + √(1−ρ²) ξ) are sampled with common
// random numbers for ρ = −1, −0.9, …, 1, and r(ρ) = (Ĉ(ρ) − Ĉ(0))/(Ĉ(1) − Ĉ(0)) for ρ ≥ 0 with Ĉ(ρ)
// the sample mean of n Σ_j p_aj p_bj; the common numbers make both endpoints exact and cancel most
// of the noise (n·M ≥ 16384 samples at run time: seed-to-seed spread ≈ 0.015, a common offset of
// the whole table since every grid point scales the same normals; the shipped tables, 16× the rows:
// n = 64, v = 1, ρ = 0.5: 0.3966 vs 0.3953 ± 0.0008 from 100,000 sampled row pairs, run-time
// table 0.3746). For ρ < 0 the ratio form (see
// rowTable). Interpolated linearly in ln v and
// cubically in ρ. Used for v ≥ 0.05; below, the lognormal form is exact to < 1e-3.
const RHO_K = 10;
const SR = new Float64Array(3);
const ROW_V_MIN = 0.05;

function mulberry32(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}
/** Standard normals by Box–Muller (the cosine half) from mulberry32(seed): the tables' fixed streams. */
function gaussStream(seed: number): () => number {
  const rnd = mulberry32(seed);
  return () => { let u = rnd(); if (u < 1e-300) u = 1e-300; return Math.sqrt(-2 * Math.log(u)) * Math.cos(2 * Math.PI * rnd()); };
}

/** The standard normals of the row-correlation table of row length n (2nM: per row m and key j,
 * z then ξ), drawn once per n — every grid point scales the same numbers by √v (common random
 * numbers across v as well as across ρ); the last n's are kept. */
let normalsN = -1, normals = new Float64Array(0);
function rowNormals(n: number, M: number): Float64Array {
  if (normalsN === n && normals.length === 2 * n * M) return normals;
  const gauss = gaussStream(0x5eed + n * 7919), g = new Float64Array(2 * n * M);
  for (let q = 0; q < g.length; q++) g[q] = gauss();
  normalsN = n; normals = g;
  return g;
}

/** the tables per row length, by grid index */
const rowRows = new GridRows(N_GRID);
function rowTable(n: number, gi: number): Float64Array {
  const rows = rowRows.rows(n, 0);
  const hit = rows[gi];
  if (hit) return hit;
  return (rows[gi] = shippedRow(n, gi) ?? interpolatedRow(n, gi) ?? buildRowTable(n, gi));
}
/** Lengths between the shipped ones (2 < n < 4096, not a power of two): cubic Lagrange interpolation
 * in log₂ n through the four nearest shipped tables at the same grid point. c(n) is smooth in ln n
 * and the shipped tables are ~4× less noisy than a run-time build, so this is the more accurate of
 * the two (100,000 sampled row pairs, ρ = 0.5: n = 48, v = 1: interpolated 0.3977, run-time
 * 0.3955, sampled 0.4003 ± 0.0010; n = 48, v = 4: 0.2884, 0.2722, 0.2916 ± 0.0014; n = 100, v = 1:
 * 0.3849, 0.3840, 0.3893 ± 0.0010) and costs nothing to build. */
function interpolatedRow(n: number, gi: number): Float64Array | null {
  if (!useShipped || gi < ROW_GI0) return null;
  return interpInLog2n(n, (m) => shippedRow(m, gi), false);
}
/** Cubic Lagrange interpolation in log₂ n through the shipped tables of the four nearest shipped
 * lengths (get(m) the one of length m, all of one size); lnScaled: of ln(m·t) instead of t, back to
 * t at n. Null for n outside (SHIPPED_MIN, SHIPPED_MAX) or a table not shipped. */
function interpInLog2n(n: number, get: (m: number) => Float64Array | null, lnScaled: boolean): Float64Array | null {
  if (!(n > SHIPPED_MIN && n < SHIPPED_MAX)) return null;
  const x = Math.log2(n), lo = Math.log2(SHIPPED_MIN), hi = Math.log2(SHIPPED_MAX);
  const k = Math.max(lo, Math.min(hi - 3, Math.floor(x) - 1)), u = x - k;
  const c = [(-(u - 1) * (u - 2) * (u - 3)) / 6, (u * (u - 2) * (u - 3)) / 2, (-u * (u - 1) * (u - 3)) / 2, (u * (u - 1) * (u - 2)) / 6];
  let out: Float64Array | null = null;
  for (let j = 0; j < 4; j++) {
    const m = 2 ** (k + j), t = get(m);
    if (!t) return null;
    out ??= new Float64Array(t.length);
    for (let q = 0; q < t.length; q++) out[q] += c[j] * (lnScaled ? Math.log(Math.max(m * t[q], 1e-300)) : t[q]);
  }
  if (lnScaled) for (let q = 0; q < out!.length; q++) out![q] = Math.exp(out![q]) / n;
  return out;
}
/** the shipped lengths: the powers of two from SHIPPED_MIN to SHIPPED_MAX (test/softmax-tables.test.ts) */
const SHIPPED_MIN = 2, SHIPPED_MAX = 4096;
/** the first grid point whose row-correlation table is used (v ≥ ROW_V_MIN at it or at the next) */
const ROW_GI0 = Math.max(0, Math.floor((Math.log(ROW_V_MIN) - T_MIN) / T_STEP) - 1);
function buildRowTable(n: number, gi: number, boost = 1): Float64Array {
  const v = Math.exp(T_MIN + gi * T_STEP), sd = Math.sqrt(v);
  const M = Math.max(64, Math.ceil(16384 / n)) * boost;
  const gs = rowNormals(n, M);
  const C = new Float64Array(2 * RHO_K + 1);
  const z = new Float64Array(n), xi = new Float64Array(n), pa = new Float64Array(n);
  const up = new Float64Array(n), dn = new Float64Array(n), pu = new Float64Array(n), pd = new Float64Array(n), ex = new Float64Array(n);
  for (let m = 0; m < M; m++) {
    let za = -Infinity, zl = Infinity, xa = -Infinity;
    for (let j = 0, q = 2 * n * m; j < n; j++, q += 2) {
      z[j] = sd * gs[q]; xi[j] = sd * gs[q + 1];
      if (z[j] > za) za = z[j];
      if (z[j] < zl) zl = z[j];
      if (xi[j] > xa) xa = xi[j];
    }
    let Za = 0;
    for (let j = 0; j < n; j++) { pa[j] = Math.exp(z[j] - za); Za += pa[j]; }
    // row b's weights e^{ρz + c₁ξ − shift}, shift = an upper bound of its largest logit (it cancels):
    // e^{±ρ(z − z_±)} as powers of e^{±(z − z_±)/RHO_K} and e^{c₁(ξ − ξ_max)} once for ±ρ (c₁ is even
    // in ρ) — 2 + RHO_K + 1 exponentials per logit instead of 2RHO_K + 1
    for (let j = 0; j < n; j++) { up[j] = Math.exp((z[j] - za) / RHO_K); dn[j] = Math.exp(-(z[j] - zl) / RHO_K); pu[j] = 1; pd[j] = 1; }
    for (let k = 0; k <= RHO_K; k++) {
      const rho = k / RHO_K, c1 = Math.sqrt(Math.max(0, 1 - rho * rho));
      for (let j = 0; j < n; j++) ex[j] = Math.exp(c1 * (xi[j] - xa));
      for (let sgn = k === 0 ? 1 : -1; sgn <= 1; sgn += 2) {
        const pw = sgn > 0 ? pu : pd;
        let Zb = 0, dot = 0;
        for (let j = 0; j < n; j++) { const e = pw[j] * ex[j]; Zb += e; dot += pa[j] * e; }
        if (!(Zb > 1e-250)) {
          // the bound was too loose for this row (underflow): the exact maximum
          const r = sgn * rho;
          let mb = -Infinity;
          for (let j = 0; j < n; j++) { const y = r * z[j] + c1 * xi[j]; if (y > mb) mb = y; }
          Zb = 0; dot = 0;
          for (let j = 0; j < n; j++) { const e = Math.exp(r * z[j] + c1 * xi[j] - mb); Zb += e; dot += pa[j] * e; }
        }
        C[sgn * k + RHO_K] += (n * dot) / (Za * Zb);
      }
      for (let j = 0; j < n; j++) { pu[j] *= up[j]; pd[j] *= dn[j]; }
    }
  }
  const r = new Float64Array(2 * RHO_K + 1);
  const lo = C[RHO_K], hi = C[2 * RHO_K];
  // ρ ≥ 0: the difference Ĉ(ρ) − Ĉ(0) over Ĉ(1) − Ĉ(0) (common random numbers cancel the noise of
  // both). ρ < 0, where C falls toward 0 (anti-correlated rows rarely pick the same key): the ratio
  // Ĉ(ρ)/Ĉ(0) estimates C(ρ)/C(0) = C(ρ), stored as c = (C − 1)/(K2 − 1) with the exact K2 at this
  // grid point (the difference form carried the noise of Ĉ(0) whole: n = 128, v = 10, ρ = −0.5 gave
  // C = −0.28, sampled 0.040 ± 0.001)
  softmaxStatsInto(n, v, SR);
  const k2m1 = SR[0] - 1;
  for (let k = 0; k <= 2 * RHO_K; k++) {
    if (!(hi > lo) || !(k2m1 > 0)) { r[k] = (k - RHO_K) / RHO_K; continue; }
    r[k] = k >= RHO_K ? (C[k] - lo) / (hi - lo) : (C[k] / lo - 1) / k2m1;
  }
  return r;
}


/** Cubic interpolation in ρ (grid ρ = k/RHO_K − 1, k = 0..2RHO_K, the entries off..off + 2RHO_K of
 * each table) of two tables at once, blended linearly with weight w on the second (the stencil is
 * shared; one function, so that it inlines whole). */
export function interpRho(ta: Float64Array, tb: Float64Array, w: number, rho: number, off = 0): number {
  rhoStencil(rho, IRS);
  return interpStencil(ta, tb, w, IRS, off);
}
const IRS = new Float64Array(5);
/** interpRho at a stencil st = rhoStencil(ρ) computed beforehand (one stencil, several tables) */
export function interpStencil(ta: Float64Array, tb: Float64Array, w: number, st: Float64Array, off = 0): number {
  const j = st[0] + off, c0 = st[1], c1 = st[2], c2 = st[3], c3 = st[4];
  const a = c0 * ta[j] + c1 * ta[j + 1] + c2 * ta[j + 2] + c3 * ta[j + 3];
  const b = c0 * tb[j] + c1 * tb[j + 1] + c2 * tb[j + 2] + c3 * tb[j + 3];
  return (1 - w) * a + w * b;
}

/** Correlation between two rows' softmax outputs whose iid logits (variance v) correlate with ρ,
 * for rows of n entries. Without n: the lognormal form. */
export function softmaxRowCorr(v: number, rho: number, n?: number): number {
  if (n === undefined || n < 2 || v < ROW_V_MIN || rho <= -1 || rho >= 1) return softmaxRowCorrLognormal(v, rho);
  const t = Math.log(Math.min(v, SOFTMAX_V_MAX));
  const x = (t - T_MIN) / T_STEP;
  const g = Math.max(0, Math.min(N_GRID - 2, Math.floor(x)));
  const w = x - g;
  return Math.max(-1, Math.min(1, interpRho(rowTable(n, g), rowTable(n, g + 1), w, rho)));
}

// ------------------------------------------------------------------ query-cosine average
//
// Two attention rows i, k see the same keys. Given their queries, the logits s_ij = q_i·k_j/√d_h of
// the two rows are, over the keys j (iid Gaussian private parts), iid pairs with correlation
// ρ = cos(q_i, q_k) — not the input correlation r: in d_h dimensions the cosine of two Gaussian
// vectors with coordinate correlation r is spread around r (for r = 0 with variance 1/d_h).
// Averaging the row correlation over that law, E_ρ[c(v, ρ)], counts that two rows whose queries
// happen to point alike pick the same keys (derived here, issue 4): with 4-dimensional heads it is
// most of the output correlation of independent tokens at peaked rows (L = 128, σ_s² = 30, r = 0:
// 0.013 with ρ ≡ r vs 0.082 measured). As d_h → ∞ the law concentrates at r and c(v, r) returns.
// (Row norms |q_i| are not carried here: the rows' variance spread is in the attention kernel's
// u-average of K2, J, Q4.)
//
// The law of ρ: the uncentred sample correlation of n iid pairs with correlation r (n = d_h for
// isotropic Gaussian queries and keys; the attention uses the effective n of queryCosineDim, and
// the density is used as is for non-integer n), i.e. Fisher's distribution for N = n + 1
// (Hotelling's form),
//   f(ρ) ∝ (1 − ρ²)^{(n−3)/2} (1 − rρ)^{−(n − 1/2)} ₂F₁(1/2, 1/2; n + 1/2; (1 + rρ)/2),
// integrated in φ = arccos ρ by the midpoint rule (the integrand sin^{n−2}φ·g(cos φ) is smooth);
// n = 1: two atoms ρ = ±1 with P(+1) = 1/2 + arcsin(r)/π. test/softmax-cosine.test.ts checks the
// law against sampled cosines.

/** Effective dimension of the queries' cosine for attention heads of d_h = d/h (derived here): for
 * fixed Gaussian weights, two rows' logit correlation is the bilinear form x_iᵀMx_k/tr M with
 * M = W_qᵀW_kW_kᵀW_q, whose spread over token pairs is tr(M²)/tr(M)² = (1 + 2d_h/d)/d_h (second
 * moment of a product of two Wishart matrices of ratio d_h/d) — the same Wishart moment that sets
 * the rows' logit-variance spread 2(1 + 2d_h/d)/d_h of the attention kernel (keyNormVar). A
 * d_h-dimensional isotropic pair has 1/d_h: the law is taken at n = d_h/(1 + 2d_h/d). */
export function queryCosineDim(d: number, heads: number): number {
  const dh = d / Math.max(1, heads);
  return dh / (1 + (2 * dh) / d);
}

const COS_NODES = 512;
/** d_h above which the law is taken as concentrated at r (its spread ~ (1 − r²)/√d_h) */
export const COS_DH_MAX = 1024;
const cosLawMemo = new Map<number, { rho: Float64Array; w: Float64Array }>();

/** ₂F₁(1/2, 1/2; c; x) for 0 ≤ x < 1 (series; c ≥ 1.5 here) */
function hyp2f1Half(c: number, x: number): number {
  let term = 1, sum = 1;
  for (let k = 0; k < 20000; k++) {
    term *= (((k + 0.5) * (k + 0.5)) / ((k + c) * (k + 1))) * x;
    sum += term;
    if (term < 1e-15 * sum) break;
  }
  return sum;
}

/** Nodes and weights (summing to 1) of the law of ρ = cos(a, b), a, b ∈ R^n Gaussian with
 * coordinate correlation r (see above); n ≤ 1: the two atoms ±1. */
export function cosineLaw(n: number, r: number): { rho: Float64Array; w: Float64Array } {
  if (n <= 1 || r >= 1 || r <= -1) {
    const pPlus = r >= 1 ? 1 : r <= -1 ? 0 : 0.5 + Math.asin(r) / Math.PI;
    return { rho: Float64Array.of(1, -1), w: Float64Array.of(pPlus, 1 - pPlus) };
  }
  const rho = new Float64Array(COS_NODES), lw = new Float64Array(COS_NODES), w = new Float64Array(COS_NODES);
  let mx = -Infinity;
  for (let m = 0; m < COS_NODES; m++) {
    const phi = ((m + 0.5) * Math.PI) / COS_NODES, c = Math.cos(phi);
    rho[m] = c;
    lw[m] = (n - 2) * Math.log(Math.sin(phi)) - (n - 0.5) * Math.log1p(-r * c) + Math.log(hyp2f1Half(n + 0.5, (1 + r * c) / 2));
    if (lw[m] > mx) mx = lw[m];
  }
  let tot = 0;
  for (let m = 0; m < COS_NODES; m++) { w[m] = Math.exp(lw[m] - mx); tot += w[m]; }
  for (let m = 0; m < COS_NODES; m++) w[m] /= tot;
  return { rho, w };
}
function cosLaw(n: number, k: number): { rho: Float64Array; w: Float64Array } {
  const key = n * (2 * RHO_K + 1) + k;
  let law = cosLawMemo.get(key);
  if (!law) { if (cosLawMemo.size > 4000) cosLawMemo.clear(); law = cosineLaw(n, k / RHO_K - 1); cosLawMemo.set(key, law); }
  return law;
}

/** interpRho's stencil (first node i, cubic weights c0…c3) at each node of a query-cosine law, the
 * node clamped to [−1, 1] as jacAt does: the tables below evaluate their one-table interpolation
 * Σ c_q t[i + q] at the law's 512 nodes for every grid point, the same arithmetic as interpRho */
interface LawStencil { i: Int32Array; c0: Float64Array; c1: Float64Array; c2: Float64Array; c3: Float64Array }
const lawStencils = new WeakMap<Float64Array, LawStencil>();
function lawStencil(rhos: Float64Array): LawStencil {
  let st = lawStencils.get(rhos);
  if (st) return st;
  const n = rhos.length;
  st = { i: new Int32Array(n), c0: new Float64Array(n), c1: new Float64Array(n), c2: new Float64Array(n), c3: new Float64Array(n) };
  for (let m = 0; m < n; m++) {
    const x = (Math.max(-1, Math.min(1, rhos[m])) + 1) * RHO_K;
    let i = Math.floor(x) - 1;
    i = Math.max(0, Math.min(2 * RHO_K - 3, i));
    const u = x - i;
    st.i[m] = i;
    st.c0[m] = (-(u - 1) * (u - 2) * (u - 3)) / 6; st.c1[m] = (u * (u - 2) * (u - 3)) / 2; st.c2[m] = (-u * (u - 1) * (u - 3)) / 2; st.c3[m] = (u * (u - 1) * (u - 2)) / 6;
  }
  lawStencils.set(rhos, st);
  return st;
}

const cosRows = new GridRows(N_GRID);
/** the query-cosine averaged row correlation at grid point gi for r = k/RHO_K − 1, k = 0..2RHO_K */
function cosTable(n: number, dh: number, gi: number): Float64Array {
  const rows = cosRows.rows(n, dh);
  const hit = rows[gi];
  if (hit) return hit;
  const out = new Float64Array(2 * RHO_K + 1);
  // c(v_g, ρ) at the grid point: the quasi-Monte-Carlo table (v ≥ ROW_V_MIN) or the lognormal form,
  // as softmaxRowCorr (v and the table looked up once for the 512 nodes × 21 r)
  const v = Math.exp(T_MIN + gi * T_STEP), t = v < ROW_V_MIN ? null : rowTable(n, gi);
  for (let k = 0; k <= 2 * RHO_K; k++) {
    const { rho, w } = cosLaw(dh, k), st = lawStencil(rho);
    let acc = 0;
    for (let m = 0; m < rho.length; m++) {
      const r = rho[m];
      if (t === null || r <= -1 || r >= 1) { acc += w[m] * softmaxRowCorrLognormal(v, r); continue; }
      const j = st.i[m], a = st.c0[m] * t[j] + st.c1[m] * t[j + 1] + st.c2[m] * t[j + 2] + st.c3[m] * t[j + 3]; // interpRho(t, t, 0, r)
      acc += w[m] * Math.max(-1, Math.min(1, a));
    }
    out[k] = acc;
  }
  rows[gi] = out;
  return out;
}

/** cosTable through a row array already looked up (cosRowsOf): the attention kernel's fwd looks the
 * key (n, d_h) up once per call (softmaxRowCorrCosAt) */
function cosTableIn(rows: (Float64Array | undefined)[], n: number, dh: number, gi: number): Float64Array {
  return rows[gi] ?? cosTable(n, dh, gi);
}
const V_LO = Math.exp(T_MIN);
/**
 * softmaxRowCorrCos with ln v computed by the caller (lv = Math.log(v), also where v is outside the
 * table's range: then the clamped log is taken here) and with interpRho's stencil in ρ precomputed
 * (rhoStencil of the clamped ρ, in st): softmaxRowCorrCos itself goes through here, and the
 * non-causal attention kernel's fwd shares ln v and the stencil with its other tables.
 */
export function softmaxRowCorrCosAt(v: number, lv: number, rho: number, n: number, dh: number, st: Float64Array): number {
  if (n < 2 || !(dh < COS_DH_MAX) || !(dh > 0)) return softmaxRowCorr(v, rho, n);
  const t = v >= V_LO && v <= SOFTMAX_V_MAX ? lv : Math.log(Math.min(Math.max(v, V_LO), SOFTMAX_V_MAX));
  const x = (t - T_MIN) / T_STEP;
  const g = Math.max(0, Math.min(N_GRID - 2, Math.floor(x)));
  const w = x - g;
  const rows = cosRows.rows(n, dh);
  return Math.max(-1, Math.min(1, interpStencil(cosTableIn(rows, n, dh, g), cosTableIn(rows, n, dh, g + 1), w, st)));
}
/** interpRho's stencil at ρ (off = 0): out = [i, c0, c1, c2, c3], the first node and the cubic weights */
export function rhoStencil(rho: number, out: Float64Array): void {
  const x = (rho + 1) * RHO_K;
  let i = Math.floor(x) - 1;
  i = Math.max(0, Math.min(2 * RHO_K - 3, i));
  const u = x - i;
  out[0] = i;
  out[1] = (-(u - 1) * (u - 2) * (u - 3)) / 6; out[2] = (u * (u - 2) * (u - 3)) / 2; out[3] = (-u * (u - 1) * (u - 3)) / 2; out[4] = (u * (u - 1) * (u - 2)) / 6;
}

/** Row correlation of two softmax rows of n entries whose queries are d_h-dimensional with
 * coordinate correlation rho, averaged over the law of the queries' cosine (see above):
 * E_ρ[softmaxRowCorr(v, ρ, n)]; d_h ≥ COS_DH_MAX: softmaxRowCorr(v, rho, n). */
export function softmaxRowCorrCos(v: number, rho: number, n: number, dh: number): number {
  if (n < 2 || !(dh < COS_DH_MAX) || !(dh > 0)) return softmaxRowCorr(v, rho, n);
  rhoStencil(Math.max(-1, Math.min(1, rho)), RCS);
  return softmaxRowCorrCosAt(v, Math.log(v), rho, n, dh, RCS);
}
const RCS = new Float64Array(5);

// ------------------------------------------------------------------ Jacobian overlap of two rows
//
// D(ρ) = Σ_j E[P_aj P_bj (1 − P_aj − P_bj + Σ_k P_ak P_bk)] = E[tr(J_a J_b)] for two softmax rows
// of n entries whose iid logit pairs (variance v) correlate with ρ, J = diag(P) − PPᵀ the softmax
// Jacobian of a row. It is the cross-row weight of a backward path whose upstream gradients of two
// rows correlate (attention's K path summed over the rows that share a key, its Q path's
// covariance). Exact identity (derived here, issue 4), by Price's theorem: the logit pairs
// (a_j, b_j) are jointly Gaussian with covariance vρ, so d/dρ E[F] = v Σ_j E[∂²F/∂a_j∂b_j]; for
// F = ⟨P_a, P_b⟩, ∂²F/∂a_j∂b_j = Σ_k (J_a)_kj (J_b)_kj, whose sum over j is tr(J_a J_b). With
// E⟨P_a, P_b⟩ = C(ρ)/n and C = 1 + c(ρ)(K2 − 1) (c the row correlation of softmaxRowCorr):
//   D(ρ) = (K2 − 1) c′(ρ) / (n v).
// Endpoints: D(1) = J (the Jacobian gain), D(0) = (1 − K2/n)²/(n − 1) (rows independent at ρ = 0).
// The identity is used below v = ROW_V_MIN (lognormal c, exact as v → 0). Above, D is sampled
// directly: c′ from the row-correlation table's slope is far too rough for it (rowTable's
// 16384/n rows resolve c to ~0.01, not its slope: n = 512, v = 10, ρ = 0.5 gave n·D 9.08 vs
// 6.20 ± 0.17 sampled, and averaged over a 16-dimensional query cosine the K path's cross-row
// term came out 1.7× the MC at L = 512, σ_s² = 100), and a fixed 128-row direct table is too
// noisy at peaked rows (n = 128, v = 100, ρ = 0.5: 0.074 vs 0.444 in units n·D, where D comes
// from rare near-ties of the two rows' top logits) — hence the adaptive row count below.

// The overlap table D(ρ_k) per (n, grid point): below ROW_V_MIN the lognormal row correlation's
// derivative by the identity above; above, sampled directly — rows x_a = √v z,
// x_b = √v(ρz + √(1−ρ²)ξ) with common random numbers for the 2RHO_K + 1 values of ρ (fixed seed per
// n, as rowTable; row b's weights by rowTable's powers), D̂ the sample mean of tr(J_a J_b) =
// Σ_j p_aj p_bj(1 − p_aj − p_bj) + (Σ_j p_aj p_bj)². Rows are drawn in batches until every node's
// standard error is within 3 % of its mean + 0.3 % of D(1) = J (at most 2^18/n rows: peaked rows
// need the most); the endpoints D(0), D(1) are set exactly. Sampling is the cost, so the tables
// live on every OV_COARSE-th grid point of ln v (jacRow interpolates).
const OV_TOL_REL = 0.03, OV_TOL_ABS = 0.003, OV_MAX_SAMPLES = 1 << 18;
const jacRows = new GridRows(N_GRID);
function jacTable(n: number, gi: number): Float64Array {
  const rows = jacRows.rows(n, 0);
  const hit = rows[gi];
  if (hit) return hit;
  return (rows[gi] = shippedJac(n, gi) ?? interpolatedJac(n, gi) ?? buildJacTable(n, gi));
}
/** Lengths between the shipped ones (as interpolatedRow): cubic interpolation in log₂ n of ln(n·D)
 * through the four nearest shipped tables (n·D is O(1) across lengths; D itself falls like 1/n);
 * the endpoints D(0), D(1) exact for n (jacRow sets them again at every fine grid point). */
function interpolatedJac(n: number, gi: number): Float64Array | null {
  if (!useShipped || gi % OV_COARSE !== 0) return null;
  const out = interpInLog2n(n, (m) => shippedJac(m, gi), true);
  if (!out) return null;
  softmaxStatsInto(n, Math.exp(T_MIN + gi * T_STEP), SR);
  out[RHO_K] = ((1 - SR[0] / n) ** 2) / (n - 1);
  out[2 * RHO_K] = SR[1];
  return out;
}
function buildJacTable(n: number, gi: number): Float64Array {
  const v = Math.exp(T_MIN + gi * T_STEP), K = 2 * RHO_K + 1;
  softmaxStatsInto(n, v, SR);
  const k2 = SR[0], jac = SR[1];
  const out = new Float64Array(K);
  if (v < ROW_V_MIN) {
    const scale = Math.max(k2 - 1, 0) / (n * v), den = Math.expm1(v);
    for (let k = 0; k < K; k++) out[k] = (scale * v * Math.exp((k / RHO_K - 1) * v)) / den;
  } else {
    const sd = Math.sqrt(v);
    const gauss = gaussStream(0x0d1a + n * 7919);
    const z = new Float64Array(n), xi = new Float64Array(n), pa = new Float64Array(n);
    const up = new Float64Array(n), dn = new Float64Array(n), pu = new Float64Array(n), pd = new Float64Array(n), ex = new Float64Array(n);
    const s1 = new Float64Array(K), s2 = new Float64Array(K);
    const batch = Math.max(8, Math.ceil(4096 / n)), maxRows = Math.max(batch, Math.ceil(OV_MAX_SAMPLES / n));
    let m = 0;
    for (;;) {
      for (let b = 0; b < batch; b++, m++) {
        let za = -Infinity, zl = Infinity, xa = -Infinity;
        for (let j = 0; j < n; j++) {
          z[j] = sd * gauss(); xi[j] = sd * gauss();
          if (z[j] > za) za = z[j];
          if (z[j] < zl) zl = z[j];
          if (xi[j] > xa) xa = xi[j];
        }
        let Za = 0;
        for (let j = 0; j < n; j++) { pa[j] = Math.exp(z[j] - za); Za += pa[j]; }
        for (let j = 0; j < n; j++) pa[j] /= Za;
        // row b's weights as in rowTable: powers of e^{±(z − z_±)/RHO_K} times e^{c₁(ξ − ξ_max)}
        for (let j = 0; j < n; j++) { up[j] = Math.exp((z[j] - za) / RHO_K); dn[j] = Math.exp(-(z[j] - zl) / RHO_K); pu[j] = 1; pd[j] = 1; }
        for (let k = 0; k <= RHO_K; k++) {
          const rho = k / RHO_K, c1 = Math.sqrt(Math.max(0, 1 - rho * rho));
          for (let j = 0; j < n; j++) ex[j] = Math.exp(c1 * (xi[j] - xa));
          for (let sgn = k === 0 ? 1 : -1; sgn <= 1; sgn += 2) {
            const pw = sgn > 0 ? pu : pd;
            let Zb = 0, d1 = 0, d2 = 0, d3 = 0;
            for (let j = 0; j < n; j++) { const e = pw[j] * ex[j], w = pa[j] * e; Zb += e; d1 += w; d2 += w * pa[j]; d3 += w * e; }
            if (!(Zb > 1e-250)) {
              // the bound was too loose for this row (underflow): the exact maximum
              const r = sgn * rho;
              let mb = -Infinity;
              for (let j = 0; j < n; j++) { const y = r * z[j] + c1 * xi[j]; if (y > mb) mb = y; }
              Zb = 0; d1 = 0; d2 = 0; d3 = 0;
              for (let j = 0; j < n; j++) { const e = Math.exp(r * z[j] + c1 * xi[j] - mb), w = pa[j] * e; Zb += e; d1 += w; d2 += w * pa[j]; d3 += w * e; }
            }
            const dot = d1 / Zb, D = dot - d2 / Zb - d3 / (Zb * Zb) + dot * dot;
            const kk = sgn * k + RHO_K;
            s1[kk] += D; s2[kk] += D * D;
          }
          for (let j = 0; j < n; j++) { pu[j] *= up[j]; pd[j] *= dn[j]; }
        }
      }
      let done = true;
      for (let k = 0; k < K && done; k++) {
        const mean = s1[k] / m, se = Math.sqrt(Math.max(s2[k] / m - mean * mean, 0) / m);
        if (se > OV_TOL_REL * mean + OV_TOL_ABS * jac) done = false;
      }
      if (done || m >= maxRows) break;
    }
    for (let k = 0; k < K; k++) out[k] = s1[k] / m;
    out[RHO_K] = ((1 - k2 / n) ** 2) / (n - 1);
    out[K - 1] = jac;
  }
  return out;
}

/** D(ρ_k) at grid point gi: the sampled tables live on every OV_COARSE-th grid point (D is smooth in
 * ln v; sampling is the cost) and are interpolated cubically in ln v on ln D per node; the two
 * endpoints exact at gi itself */
const OV_COARSE = 4;
const jacFine = new GridRows(N_GRID);
function jacRow(n: number, gi: number): Float64Array {
  const rows = jacFine.rows(n, 0);
  const hit = rows[gi];
  if (hit) return hit;
  const K = 2 * RHO_K + 1, out = new Float64Array(K);
  const nc = Math.floor((N_GRID - 1) / OV_COARSE);
  let c = Math.floor(gi / OV_COARSE) - 1;
  c = Math.max(0, Math.min(nc - 3, c));
  const x = gi / OV_COARSE - c;
  const c0 = (-(x - 1) * (x - 2) * (x - 3)) / 6, c1 = (x * (x - 2) * (x - 3)) / 2, c2 = (-x * (x - 1) * (x - 3)) / 2, c3 = (x * (x - 1) * (x - 2)) / 6;
  const t0 = jacTable(n, c * OV_COARSE), t1 = jacTable(n, (c + 1) * OV_COARSE), t2 = jacTable(n, (c + 2) * OV_COARSE), t3 = jacTable(n, (c + 3) * OV_COARSE);
  const L = (y: number) => Math.log(Math.max(y, 1e-300));
  for (let k = 0; k < K; k++) out[k] = Math.exp(c0 * L(t0[k]) + c1 * L(t1[k]) + c2 * L(t2[k]) + c3 * L(t3[k]));
  softmaxStatsInto(n, Math.exp(T_MIN + gi * T_STEP), SR);
  out[RHO_K] = ((1 - SR[0] / n) ** 2) / (n - 1);
  out[K - 1] = SR[1];
  rows[gi] = out;
  return out;
}

/** D(ρ) at grid point gi: cubic in ρ (≥ 0: tr of a product of PSD matrices) */
function jacAt(n: number, gi: number, rho: number): number {
  const t = jacRow(n, gi);
  return Math.max(interpRho(t, t, 0, Math.max(-1, Math.min(1, rho))), 0);
}

const ovRows = new GridRows(N_GRID);
const OV_ATOM: { rho: Float64Array; w: Float64Array } = { rho: new Float64Array(1), w: Float64Array.of(1) };
/** [E_ρ[ρD]…, E_ρ[D]…] at grid point gi for r = k/RHO_K − 1, k = 0..2RHO_K (the first 2RHO_K + 1
 * entries E_ρ[ρD], the next E_ρ[D]);
 * dh ≥ COS_DH_MAX: the law is the atom ρ = r */
function overlapTable(n: number, dh: number, gi: number): Float64Array {
  const rows = ovRows.rows(n, dh);
  const hit = rows[gi];
  if (hit) return hit;
  const out = new Float64Array(2 * (2 * RHO_K + 1)), jt = jacRow(n, gi);
  for (let k = 0; k <= 2 * RHO_K; k++) {
    let law = OV_ATOM;
    if (dh < COS_DH_MAX) law = cosLaw(dh, k); else OV_ATOM.rho[0] = k / RHO_K - 1;
    let a = 0, b = 0;
    if (law === OV_ATOM) {
      const D = Math.max(interpRho(jt, jt, 0, Math.max(-1, Math.min(1, law.rho[0]))), 0); // jacAt(n, gi, ρ)
      a += law.w[0] * law.rho[0] * D; b += law.w[0] * D;
    } else {
      const st = lawStencil(law.rho);
      for (let m = 0; m < law.rho.length; m++) {
        const j = st.i[m], D = Math.max(st.c0[m] * jt[j] + st.c1[m] * jt[j + 1] + st.c2[m] * jt[j + 2] + st.c3[m] * jt[j + 3], 0); // jacAt(n, gi, ρ)
        a += law.w[m] * law.rho[m] * D; b += law.w[m] * D;
      }
    }
    out[k] = a; out[2 * RHO_K + 1 + k] = b;
  }
  rows[gi] = out;
  return out;
}

/** The Jacobian overlap of two softmax rows of n entries (see above), averaged over the law of their
 * d_h-dimensional queries' cosine at coordinate correlation rho (as softmaxRowCorrCos), into
 * out = [E_ρ[ρ D(ρ)], E_ρ[D(ρ)]]; d_h ≥ COS_DH_MAX: [rho·D(rho), D(rho)]. n < 2: zeros. */
export function softmaxJacOverlapCos(v: number, rho: number, n: number, dh: number, out: Float64Array): void {
  if (n < 2 || !(v > 0)) { out[0] = 0; out[1] = 0; return; }
  const key = dh > 0 && dh < COS_DH_MAX ? dh : COS_DH_MAX;
  const t = Math.log(Math.min(Math.max(v, Math.exp(T_MIN)), SOFTMAX_V_MAX));
  const x = (t - T_MIN) / T_STEP;
  const g = Math.max(0, Math.min(N_GRID - 2, Math.floor(x)));
  const w = x - g;
  const r = Math.max(-1, Math.min(1, rho));
  const ta = overlapTable(n, key, g), tb = overlapTable(n, key, g + 1);
  out[0] = interpRho(ta, tb, w, r);
  out[1] = Math.max(interpRho(ta, tb, w, r, 2 * RHO_K + 1), 0);
}


// ------------------------------------------------------------------ anisotropic query law (K path)
//
// For fixed Gaussian weights the two rows' logit correlation over the keys is the cosine of
// a = C^{1/2}g, a′ = C^{1/2}g′ with g, g′ ∈ R^{d_h} standard normal (coordinate correlation r) and
// C = Σ_k^{1/2}Σ_qΣ_k^{1/2}, Σ_q = W_qᵀW_q/d, Σ_k = W_kᵀW_k/d (d_h × d_h Wishart): by rotation
// invariance only C's eigenvalues matter. The rows' logit-variance factors are u = |a|²/E|a|².
// queryCosineDim's Fisher law at d_h/(1 + 2d_h/d) matches this law's second moment but puts too
// much weight near ρ = ±1 (a fractional dimension below d_h), where a peaked row pair's Jacobian
// overlap D lives (d = 64, d_h = 4, L = 128, σ_s² = 100: cross-row K 25.8 with the Fisher law,
// 20.7 with this one, MC 20.7 ± 0.6). The law is sampled (derived here, issue 4): ANISO_SPECTRA
// eigenvalue sets of C (Wishart matrices drawn with a fixed seed, Jacobi eigenvalues), ANISO_PAIRS
// pairs (g, g′) with common random numbers across the r grid. Used for d_h ≤ ANISO_DH_MAX; above,
// the law is narrow (E[ρ²] ≤ 1/21) and its tails carry nothing: the Fisher law as before.
export const ANISO_DH_MAX = 16;
const ANISO_SPECTRA = 32, ANISO_PAIRS = 8192;
/** per sampled pair: ρ, ln u, ln u′ and the norm factor w = √(uu′) */
interface AnisoLaw { rho: Float64Array; lu1: Float64Array; lu2: Float64Array; w: Float64Array }
const anisoMemo = new Map<string, AnisoLaw[]>();
function jacobiEigen(A: Float64Array, n: number): Float64Array {
  for (let sw = 0; sw < 60; sw++) {
    let off = 0;
    for (let p = 0; p < n; p++) for (let q = p + 1; q < n; q++) off += A[p * n + q] * A[p * n + q];
    if (!(off > 1e-24)) break;
    for (let p = 0; p < n; p++) for (let q = p + 1; q < n; q++) {
      const apq = A[p * n + q];
      if (Math.abs(apq) < 1e-300) continue;
      const th = (A[q * n + q] - A[p * n + p]) / (2 * apq);
      const t = (th >= 0 ? 1 : -1) / (Math.abs(th) + Math.sqrt(th * th + 1));
      const c = 1 / Math.sqrt(t * t + 1), s = t * c;
      for (let k = 0; k < n; k++) { const akp = A[k * n + p], akq = A[k * n + q]; A[k * n + p] = c * akp - s * akq; A[k * n + q] = s * akp + c * akq; }
      for (let k = 0; k < n; k++) { const apk = A[p * n + k], aqk = A[q * n + k]; A[p * n + k] = c * apk - s * aqk; A[q * n + k] = s * apk + c * aqk; }
    }
  }
  const ev = new Float64Array(n);
  for (let i = 0; i < n; i++) ev[i] = Math.max(A[i * n + i], 0);
  return ev;
}
/** The fixed-seed draws of the anisotropic law for (d, d_h): ANISO_SPECTRA eigenvalue sets of C, their
 * mean trace norm = E|a|², and ANISO_PAIRS antithetic pairs (g, z) of standard normals in R^{d_h} */
interface AnisoDraws { spectra: Float64Array[]; norm: number; G: Float64Array; Zs: Float64Array }
const anisoDrawMemo = new Map<string, AnisoDraws>();
function anisoDraws(d: number, dh: number): AnisoDraws {
  const key = d + '|' + dh;
  const hit = anisoDrawMemo.get(key);
  if (hit) return hit;
  const gauss = gaussStream(0xa150 + d * 131 + dh);
  const wish = (): Float64Array => {
    const X = new Float64Array(d * dh);
    for (let i = 0; i < X.length; i++) X[i] = gauss();
    const S = new Float64Array(dh * dh);
    for (let a = 0; a < dh; a++) for (let b = a; b < dh; b++) { let s = 0; for (let i = 0; i < d; i++) s += X[i * dh + a] * X[i * dh + b]; S[a * dh + b] = S[b * dh + a] = s / d; }
    return S;
  };
  const spectra: Float64Array[] = [];
  let lamSum = 0;
  for (let t = 0; t < ANISO_SPECTRA; t++) {
    const Sq = wish(), Sk = wish();
    // Σ_q = L Lᵀ (Cholesky); C ~ Lᵀ Σ_k L has C's eigenvalues
    const Lc = new Float64Array(dh * dh);
    for (let i = 0; i < dh; i++) for (let j = 0; j <= i; j++) {
      let s = Sq[i * dh + j];
      for (let k = 0; k < j; k++) s -= Lc[i * dh + k] * Lc[j * dh + k];
      Lc[i * dh + j] = i === j ? Math.sqrt(Math.max(s, 1e-300)) : s / Lc[j * dh + j];
    }
    const T = new Float64Array(dh * dh), C = new Float64Array(dh * dh);
    for (let i = 0; i < dh; i++) for (let b = 0; b < dh; b++) { let s = 0; for (let j = 0; j < dh; j++) s += Sk[i * dh + j] * Lc[j * dh + b]; T[i * dh + b] = s; }
    for (let a = 0; a < dh; a++) for (let b = 0; b < dh; b++) { let s = 0; for (let i = 0; i < dh; i++) s += Lc[i * dh + a] * T[i * dh + b]; C[a * dh + b] = s; }
    const ev = jacobiEigen(C, dh);
    spectra.push(ev);
    for (let i = 0; i < dh; i++) lamSum += ev[i];
  }
  const norm = lamSum / ANISO_SPECTRA; // E|a|²
  const G = new Float64Array(ANISO_PAIRS * dh), Zs = new Float64Array(ANISO_PAIRS * dh);
  // antithetic pairs (g, z), (g, −z): at r = 0 they are ρ and −ρ, so the odd part of ρ ↦ D(ρ) that
  // E[wρD] measures is sampled without the even part's noise
  for (let m = 0; m < ANISO_PAIRS; m += 2) for (let i = 0; i < dh; i++) {
    const a = gauss(), b = gauss();
    G[m * dh + i] = a; Zs[m * dh + i] = b; G[(m + 1) * dh + i] = a; Zs[(m + 1) * dh + i] = -b;
  }
  const out = { spectra, norm, G, Zs };
  if (anisoDrawMemo.size > 32) anisoDrawMemo.clear();
  anisoDrawMemo.set(key, out);
  return out;
}
/** the sampled law for (d, d_h), one per r = k/RHO_K − 1 */
function anisoLaws(d: number, dh: number): AnisoLaw[] {
  const key = d + '|' + dh;
  const hit = anisoMemo.get(key);
  if (hit) return hit;
  const { spectra, norm, G, Zs } = anisoDraws(d, dh);
  const laws: AnisoLaw[] = [];
  for (let k = 0; k <= 2 * RHO_K; k++) {
    const r = k / RHO_K - 1, cr = Math.sqrt(Math.max(0, 1 - r * r));
    const rho = new Float64Array(ANISO_PAIRS), lu1 = new Float64Array(ANISO_PAIRS), lu2 = new Float64Array(ANISO_PAIRS), wn = new Float64Array(ANISO_PAIRS);
    for (let m = 0; m < ANISO_PAIRS; m++) {
      const lam = spectra[m % ANISO_SPECTRA];
      let aa = 0, bb = 0, ab = 0;
      for (let i = 0; i < dh; i++) { const x = G[m * dh + i], y = r * x + cr * Zs[m * dh + i]; aa += lam[i] * x * x; bb += lam[i] * y * y; ab += lam[i] * x * y; }
      rho[m] = aa > 0 && bb > 0 ? Math.max(-1, Math.min(1, ab / Math.sqrt(aa * bb))) : 0;
      const u1 = aa / norm, u2 = bb / norm;
      lu1[m] = Math.log(u1); lu2[m] = Math.log(u2); wn[m] = Math.sqrt(u1 * u2);
    }
    laws.push({ rho, lu1, lu2, w: wn });
  }
  if (anisoMemo.size > 32) anisoMemo.clear();
  anisoMemo.set(key, laws);
  return laws;
}

/**
 * The share of the Q path's key variance that lies along the query's own logit direction (formulas/
 * attention.ts, derived there): with Σ_q = W_qᵀW_q/d, Σ_k = W_kᵀW_k/d per head, the key component
 * tied to row i's logits is along Σ_k q_i, and back through W_q it carries the fraction
 *   f = |W_q Σ_k q|²/(qᵀΣ_k q · tr(W_q Σ_k W_qᵀ)) = Σ_a λ_a² g_a²/(Σ_a λ_a g_a² · Σ_a λ_a)
 * of the Q path's J (λ the eigenvalues of Σ_qΣ_k, as C of the anisotropic law; g the query in its
 * eigenbasis). Isotropic: 1/d_h. d_h ≤ ANISO_DH_MAX: E[f] over the anisotropic law's fixed-seed
 * spectra and queries (d = 64: d_h·E[f] = 1.090 at d_h = 4, 1.47 at d_h = 16); above, its first
 * order 1/d_h + 2/d (the ratio of the expectations, E tr((Σ_qΣ_k)²)/d_h = 1 + 2d_h/d for two
 * Marchenko–Pastur factors: d = 64, d_h = 64, direct sampling 0.0461, first order 0.0469).
 */
export function queryDirFrac(d: number, heads: number): number {
  const dh = Math.max(1, Math.round(d / Math.max(1, heads)));
  if (dh <= 1) return 1;
  if (dh > ANISO_DH_MAX) return 1 / dh + 2 / d;
  if (d === qDirLast[0] && dh === qDirLast[1]) return qDirLast[2];
  const key = d + '|' + dh;
  let f = qDirMemo.get(key);
  if (f === undefined) {
    const { spectra, G } = anisoDraws(d, dh);
    let s = 0;
    for (let m = 0; m < ANISO_PAIRS; m++) {
      const lam = spectra[m % ANISO_SPECTRA];
      let a2 = 0, a1 = 0, tr = 0;
      for (let i = 0; i < dh; i++) { const x = G[m * dh + i], l = lam[i]; a1 += l * x * x; a2 += l * l * x * x; tr += l; }
      if (a1 > 0 && tr > 0) s += a2 / (a1 * tr);
    }
    f = s / ANISO_PAIRS;
    qDirMemo.set(key, f);
  }
  qDirLast[0] = d; qDirLast[1] = dh; qDirLast[2] = f;
  return f;
}
const qDirMemo = new Map<string, number>(), qDirLast = Float64Array.of(NaN, NaN, NaN);

/** D(ρ) at ln v = t_g + ln u: linear in t between the fine grid rows, cubic in ρ */
function jacAtU(n: number, gi: number, lnu: number, rho: number): number {
  const x = gi + lnu / T_STEP;
  const g = Math.max(0, Math.min(N_GRID - 2, Math.floor(x))), w = Math.max(0, Math.min(1, x - g));
  return (1 - w) * jacAt(n, g, rho) + w * jacAt(n, g + 1, rho);
}
const anisoRows = new GridRows(N_GRID);
/** [E[wρD]…, E[D]…] over the anisotropic law at grid point gi, for the r grid (overlapTable's layout);
 * each pair's D at its two rows' variances v·u, v·u′ taken as separable: √(D(vu, ρ) D(vu′, ρ)).
 * Filled node by node on first use (NaN until then): a look-up reads the four nodes of its cubic
 * stencil, and each node costs ANISO_PAIRS pairs (the causal K path reads log₂ L lengths at a layer's
 * variance, formulas/attention.ts causalKcvRows). */
function anisoTable(n: number, d: number, dh: number, gi: number): Float64Array {
  const rows = anisoRows.rows(n, d * 4096 + dh);
  const hit = rows[gi];
  if (hit) return hit;
  const out = new Float64Array(2 * (2 * RHO_K + 1)).fill(NaN);
  rows[gi] = out;
  return out;
}
/** compute the nodes k0..k0+3 of anisoTable(n, d, dh, gi) that are not there yet */
function anisoNodes(tab: Float64Array, n: number, d: number, dh: number, gi: number, k0: number): void {
  let laws: AnisoLaw[] | null = null;
  for (let k = k0; k <= k0 + 3; k++) {
    if (tab[k] === tab[k]) continue;
    laws ??= anisoLaws(d, dh);
    const { rho, lu1, lu2, w } = laws[k];
    let a = 0, b = 0;
    for (let m = 0; m < ANISO_PAIRS; m++) {
      const D = Math.sqrt(jacAtU(n, gi, lu1[m], rho[m]) * jacAtU(n, gi, lu2[m], rho[m]));
      a += w[m] * rho[m] * D; b += D;
    }
    tab[k] = a / ANISO_PAIRS; tab[2 * RHO_K + 1 + k] = b / ANISO_PAIRS;
  }
}

/** Two attention rows' Jacobian overlap over the anisotropic query law of heads of d_h = dModel/heads
 * (see above), into out = [E[wρD], E[D]] (w = √(uu′)): the K path's cross-row weight and the Q
 * path's covariance (formulas/attention.ts attnJacOverlap). n < 2: zeros. */
export function softmaxJacOverlapAniso(v: number, rho: number, n: number, d: number, heads: number, out: Float64Array): void {
  if (n < 2 || !(v > 0)) { out[0] = 0; out[1] = 0; return; }
  const dh = Math.max(1, Math.round(d / Math.max(1, heads)));
  const t = Math.log(Math.min(Math.max(v, Math.exp(T_MIN)), SOFTMAX_V_MAX));
  const x = (t - T_MIN) / T_STEP;
  const g = Math.max(0, Math.min(N_GRID - 2, Math.floor(x)));
  const w = x - g;
  const r = Math.max(-1, Math.min(1, rho));
  const ta = anisoTable(n, d, dh, g), tb = anisoTable(n, d, dh, g + 1);
  const k0 = Math.max(0, Math.min(2 * RHO_K - 3, Math.floor((r + 1) * RHO_K) - 1)); // interpRho's stencil
  anisoNodes(ta, n, d, dh, g, k0); anisoNodes(tb, n, d, dh, g + 1, k0);
  out[0] = interpRho(ta, tb, w, r);
  out[1] = Math.max(interpRho(ta, tb, w, r, 2 * RHO_K + 1), 0);
}

// ------------------------------------------------------------------ block

const PAPER = {
  var: '(exp(s) - 1)/n^2',
  gradVar: 'g*exp(s)/n^2',
};

export const softmax = defineBlock<SoftmaxParams, { pw: SoftmaxPowers; rOut: number }>({
  params: [{ name: 'n', kind: 'integer', min: 1, max: 1_000_000, doc: 'number of logits (softmax length)' }],
  doc: {
    name: 'softmax',
    title: 'Softmax over n iid logits',
    source: 'DSLM Softmax row for the small-variance limit; exact finite-n, any-variance moments by a Laplace-transform identity, derived here',
    assumptions: ['the n logits of a row iid Gaussian (variance s)', 'two rows correlated entry-wise (r)', 'upstream gradient iid within a row'],
    domain: 'any n >= 1, any s (saturates correctly); row correlation by fixed-seed quasi-Monte-Carlo for s >= 0.05',
    method: 'quadrature',
    symbols: { mu: 'logit mean (cancels)', s: 'logit variance', r: 'correlation between two rows’ logits', g: 'upstream gradient variance', rg: 'upstream gradient row correlation', n: 'softmax length', e2: 'E[p²]', e3: 'E[p³]', q4: 'E[(Σ_k p_k²)²]', rout: 'output row correlation' },
    forward: {
      mean: [{ expr: '1/n' }],
      var: [{ expr: 'e2 - 1/n^2', when: 'e2 exact by the Laplace identity' }, { expr: PAPER.var, when: 'DSLM approximation (s small, n large)' }],
      r: [{ expr: '(exp(r*s) - 1)/(exp(s) - 1)', when: 's < 0.05 (lognormal form); above: fixed-seed quasi-Monte-Carlo table' }],
    },
    backward: {
      gradVar: [{ expr: 'g*(e2 - 2*e3 + q4/n)' }, { expr: PAPER.gradVar, when: 'DSLM approximation' }],
      gradR: [{ expr: 'rg*(1 + rout*(n^2*e2 - 1))/(n^2*e2)', when: 'rout = output row correlation' }],
    },
  },
  forward(p, x) {
    const pw = softmaxPowers(p.n, x.var);
    const v = Math.max(pw.e2 - 1 / (p.n * p.n), 0);
    const rOut = softmaxRowCorr(x.var, x.r, p.n);
    return { out: { mean: 1 / p.n, var: v, r: rOut }, method: 'quadrature', warnings: NO_WARNINGS, cache: { pw, rOut } };
  },
  backward(p, _x, f, g) {
    const { pw, rOut } = f.cache;
    const n = p.n, k2 = n * n * pw.e2;
    return { var: g.var * Math.max(pw.e2 - 2 * pw.e3 + pw.q4 / n, 0), r: n > 1 ? (g.r * (1 + rOut * (k2 - 1))) / k2 : g.r };
  },
});

/** DSLM as published ("approx" row): Var (e^{v} − 1)/n², gradVar σ_g² e^{v}/n² — diverges where the
 * real softmax saturates. Row correlation: the lognormal form. */
export const softmaxPaper = defineBlock<SoftmaxParams, { v: number; rOut: number }>({
  params: softmax.params,
  doc: { ...softmax.doc, title: 'Softmax (DSLM approx row)', source: 'DSLM Softmax row as published', method: 'closed-form', domain: 'small logit variance, large n' },
  forward(p, x) {
    const n = p.n;
    const rOut = softmaxRowCorrLognormal(x.var, x.r);
    return { out: { mean: 1 / n, var: Math.expm1(x.var) / (n * n), r: rOut }, method: 'closed-form', warnings: NO_WARNINGS, cache: { v: x.var, rOut } };
  },
  backward(p, _x, f, g) {
    return { var: (g.var * Math.exp(f.cache.v)) / (p.n * p.n), r: g.r };
  },
});
