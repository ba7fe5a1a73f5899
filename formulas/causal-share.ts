/**
 * Two causal rows of unequal length: the longer row's share of weight on the shared keys is not
 * independent of those keys' weights (derived here, issue 4; quadrature).
 *
 * Rows i (n keys) and i′ (n′ ≥ n keys) share the first n keys. Given the queries their logits are
 * Gaussian, iid over keys, variance v each, the pair (x_j, y_j) on a shared key correlated at ρ; the
 * m = n′ − n keys only the longer row sees are independent of everything else. The longer row's
 * weights on the shared keys are P_i′j = e^{y_j}/(Z_sh + Z_rest) = R·P̃_j (P̃ a softmax over the shared
 * n keys, R = Z_sh/(Z_sh + Z_rest), E[R] = n/n′). The engine took R independent of P̃ (the pair then
 * passes n/n′ times the equal-row overlap of length n; formulas/attention.ts causalKcvRows); but a key
 * that dominates the shared set also raises Z_sh and so R: the overlaps are larger. Exactly, by the
 * Laplace identity 1/Z^k = ∫ s^{k−1}e^{−sZ} ds/Γ(k) for each row's normaliser (s = e^a, t = e^b):
 *   E[e^{px_1+qy_1}/(Zx^p Zy^q)] = ∫∫ da db e^{pa+qb} B_pq(a, b) Φ(a, b)^{n−1} Ψ(b)^m,
 *   B_pq = E[e^{px+qy} e^{−e^{a+x} − e^{b+y}}],  Φ = B_00,  Ψ(b) = E[e^{−e^{b+y}}]
 * (the other keys are independent, so their transforms factorise; Γ(1) = Γ(2) = 1), and
 *   A(n, n′) = Σ_{j≤n} E[P_ij P_i′j] = n·I_11,
 *   D(n, n′) = Σ_{j≤n} E[P_ij P_i′j(1 − P_ij − P_i′j + Σ_{a≤n} P_ia P_i′a)]
 *            = n(I_11 − I_21 − I_12 + I_22) + n(n − 1)·I_pair,
 * I_pq with B_pq (I_21 = E[P_i1² P_i′1] etc.), I_pair = E[P_i1 P_i′1 P_i2 P_i′2] with B_11² Φ^{n−2}.
 * The factors the causal terms take (1 at n = n′):
 *   F_D(n, n′) = n′·D(n, n′)/(n·D(n, n))   (the K path's cross-row overlap, on E[wρD_n]/n′),
 *   F_κ(n, n′) = n′·(A(n, n′) − 1/n′)/(n·(A(n, n) − 1/n))   (the weights' covariance).
 * Each is evaluated at one v and ρ with u = 1 (the rows' |q|² spread stays in the engine's own
 * equal-row term it multiplies — an approximation); the queries' cosine law below.
 * Quadrature: x = σz, y = σρz + τw (τ = σ√(1 − ρ²)); the w-expectation H_q(c) = E[e^{qτw − e^{c+τw}}]
 * is tabulated in c (step 0.05, linear; w a trapezoid sum, step ≤ 1.6/τ) and the z-expectation is a
 * trapezoid sum (step ≤ 1.6/σ, |z| ≤ 7.5);
 * a, b on a trapezoid grid (step 1; against steps 0.7 and 1.2/σ, F moves by < 0.2 %) over
 * [−(ln n_max + 4.5σ + 12), 4.5σ + 4]. Tabulated per node of ln v (step ½) and of ρ (k/10 − 1) on the
 * nodes n = 2^k, n′ = 2^{k+e} (unit steps in x = log₂ n, δ = log₂(n′/n), n_max ≥ 512), linear in ln v
 * and ρ and bilinear in (x, δ) on ln F between the nodes — an interpolation of the quadrature.
 * Small head dimension: the K path weights a pair by its queries' cosine ρ, which spreads around r′
 * (softmax.ts cosineLaw at queryCosineDim), and at large v and ρ → 1 F_D falls below 1 (saturated rows),
 * so the K path takes F̄_D = Σ_ρ p(ρ)ρD_n(ρ)F_D(n, n′; ρ)/Σ_ρ p(ρ)ρD_n(ρ) (the law's mass on the ρ
 * nodes by linear hat weights; causalShareLaw).
 * Float64 Gaussian-logit MC (v = 5, ρ = 0.5, 1500 draws of 128 keys; F_κ / F_D, quadrature in brackets):
 * (4, 128) 1.58 / 1.62 (1.70 / 1.63), (16, 128) 1.34 / 1.46 (1.40 / 1.47), (32, 64) 1.14 / 1.16 (1.13 /
 * 1.16), (64, 128) 1.12 / 1.14 (1.12 / 1.15), (8, 16) 1.15 / 1.18 (1.16 / 1.17); A and D themselves:
 * test/attention-causal-share.test.ts.
 */

import { COS_DH_MAX, cosineLaw } from './softmax.js';

export interface ShareTable { v: number; rho: number; X: number; lnFD: Float64Array; lnFK: Float64Array; fD: Float64Array; deq: Float64Array; keq: Float64Array }

const cache = new Map<string, ShareTable>();
let DZ = 1.6, DA = 1.0;
/** (accuracy checks only) the quadrature steps */
export function setShareSteps(dz: number, da: number): void { DZ = dz; DA = da; cache.clear(); lawCache.clear(); }

/** A(n, n′) and D(n, n′) for rows of n ≤ n′ keys (module header) at logit variance v, correlation ρ,
 * for the (n, n′) listed; a and b grids built for n′ ≤ nMax */
export function causalPairOverlaps(v: number, rho: number, pairs: [number, number][]): { A: Float64Array; D: Float64Array } {
  const nMax = Math.max(2, ...pairs.map((p) => p[1]));
  const sig = Math.sqrt(Math.max(v, 0)), r = Math.max(-1, Math.min(1, rho)), tau = sig * Math.sqrt(Math.max(0, 1 - r * r)), sr = sig * r;
  // z nodes (trapezoid, Gaussian weight, normalised)
  const dz = Math.min(0.25, DZ / Math.max(sig, 1e-9)), Z = Math.ceil(7.5 / dz);
  const zs = new Float64Array(2 * Z + 1), zw = new Float64Array(2 * Z + 1);
  let wsum = 0;
  for (let k = -Z; k <= Z; k++) { zs[k + Z] = k * dz; zw[k + Z] = Math.exp(-0.5 * (k * dz) ** 2); wsum += zw[k + Z]; }
  for (let k = 0; k < zw.length; k++) zw[k] /= wsum;
  const NZ = zs.length;
  // a, b grid
  const da = DA, lo = -(Math.log(nMax) + 4.5 * sig + 12), hi = 4.5 * sig + 4;
  const NA = Math.ceil((hi - lo) / da) + 1;
  const ag = new Float64Array(NA);
  for (let i = 0; i < NA; i++) ag[i] = lo + i * da;
  // H_q(c) table over c ∈ [lo − |σρ|·7.5 − 1, hi + |σρ|·7.5 + 1]
  // (H_q is constant, e^{q²τ²/2}, to e^{−40} below −40 − 7.5τ and below e^{−90} above 4.6 + 7.5τ: the
  // look-up clamps to the table's ends there)
  const cTop = 4.6 + 7.5 * tau, dc = 0.05, c0 = Math.max(lo - Math.abs(sr) * 7.5 - 1, -40 - 7.5 * tau), c1 = Math.min(hi + Math.abs(sr) * 7.5 + 1, cTop), NC = Math.ceil((c1 - c0) / dc) + 2;
  const H = [new Float64Array(NC), new Float64Array(NC), new Float64Array(NC)];
  // w nodes for H (step ≤ 1.6/τ, as z's)
  const dw = Math.min(0.25, DZ / Math.max(tau, 1e-9)), Wn = Math.ceil(7.5 / dw), NW = 2 * Wn + 1;
  const ws = new Float64Array(NW), ww = new Float64Array(NW);
  let wws = 0;
  for (let k = -Wn; k <= Wn; k++) { ws[k + Wn] = k * dw; ww[k + Wn] = Math.exp(-0.5 * (k * dw) ** 2); wws += ww[k + Wn]; }
  for (let k = 0; k < NW; k++) ww[k] /= wws;
  for (let i = 0; i < NC; i++) {
    const c = c0 + i * dc;
    if (tau < 1e-12) { const e = Math.exp(-Math.exp(c)); H[0][i] = e; H[1][i] = e; H[2][i] = e; continue; }
    let h0 = 0, h1 = 0, h2 = 0;
    for (let k = 0; k < NW; k++) {
      const tw = tau * ws[k], e = ww[k] * Math.exp(-Math.exp(c + tw)), g = Math.exp(tw);
      h0 += e; h1 += e * g; h2 += e * g * g;
    }
    H[0][i] = h0; H[1][i] = h1; H[2][i] = h2;
  }
  const hAt = (q: number, c: number) => {
    const x = (c - c0) / dc, i = Math.max(0, Math.min(NC - 2, Math.floor(x))), f = Math.max(0, Math.min(1, x - i));
    return H[q][i] * (1 - f) + H[q][i + 1] * f;
  };
  // per (b, z): H_q(b + σρz); per (a, z): e^{−e^{a+σz}}; z weights with e^{(p + qρ)σz}
  const HB = [new Float64Array(NA * NZ), new Float64Array(NA * NZ), new Float64Array(NA * NZ)];
  for (let ib = 0; ib < NA; ib++) for (let k = 0; k < NZ; k++) for (let q = 0; q < 3; q++) HB[q][ib * NZ + k] = hAt(q, ag[ib] + sr * zs[k]);
  // e^{−e^{a+σz}} < e^{−90} beyond a + σz > 4.5: the z sum stops there
  const kMax = new Int32Array(NA);
  for (let ia = 0; ia < NA; ia++) kMax[ia] = sig > 0 ? Math.max(0, Math.min(NZ, Math.floor((4.5 - ag[ia]) / (sig * dz)) + Z + 1)) : NZ;
  // and H_q(b + σρz) = 0 to e^{−90} once b + σρz > cTop (ρ > 0)
  const kMaxB = new Int32Array(NA).fill(NZ);
  if (sr > 1e-9) for (let ib = 0; ib < NA; ib++) kMaxB[ib] = Math.max(0, Math.min(NZ, Math.floor((cTop - ag[ib]) / (sr * dz)) + Z + 1));
  const EA = new Float64Array(NA * NZ);
  for (let ia = 0; ia < NA; ia++) for (let k = 0; k < NZ; k++) EA[ia * NZ + k] = Math.exp(-Math.exp(ag[ia] + sig * zs[k]));
  const W = (p: number, q: number) => { const o = new Float64Array(NZ); for (let k = 0; k < NZ; k++) o[k] = zw[k] * Math.exp((p + q * r) * sig * zs[k]); return o; };
  const w00 = W(0, 0), w11 = W(1, 1), w21 = W(2, 1), w12 = W(1, 2), w22 = W(2, 2);
  const N2 = NA * NA;
  const phi = new Float64Array(N2), lnPhi = new Float64Array(N2), b11 = new Float64Array(N2), b21 = new Float64Array(N2), b12 = new Float64Array(N2), b22 = new Float64Array(N2), lnPsi = new Float64Array(NA);
  for (let ib = 0; ib < NA; ib++) {
    let ps = 0;
    for (let k = 0; k < NZ; k++) ps += w00[k] * HB[0][ib * NZ + k];
    lnPsi[ib] = Math.log(Math.max(ps, 1e-300));
  }
  for (let ia = 0; ia < NA; ia++) for (let ib = 0; ib < NA; ib++) {
    let f = 0, s11 = 0, s21 = 0, s12 = 0, s22 = 0;
    const oa = ia * NZ, ob = ib * NZ, kEnd = Math.min(kMax[ia], kMaxB[ib]);
    for (let k = 0; k < kEnd; k++) {
      const e = EA[oa + k], h0 = HB[0][ob + k], h1 = HB[1][ob + k], h2 = HB[2][ob + k];
      f += w00[k] * e * h0; s11 += w11[k] * e * h1; s21 += w21[k] * e * h1; s12 += w12[k] * e * h2; s22 += w22[k] * e * h2;
    }
    const ix = ia * NA + ib;
    phi[ix] = Math.max(f, 1e-300); lnPhi[ix] = Math.log(phi[ix]); b11[ix] = s11; b21[ix] = s21; b12[ix] = s12; b22[ix] = s22;
  }
  const A = new Float64Array(pairs.length), D = new Float64Array(pairs.length);
  const eg = new Float64Array(NA);
  for (let i = 0; i < NA; i++) eg[i] = Math.exp(ag[i]);
  // Φ^{n−1} per (a, b) once per n, Ψ^m per b once per (n, n′)
  const phiPow = new Float64Array(N2), psiPow = new Float64Array(NA);
  let nPrev = NaN;
  pairs.forEach(([n, n2], pi) => {
    const m = n2 - n;
    if (n !== nPrev) { for (let ix = 0; ix < N2; ix++) { const x = (n - 1) * lnPhi[ix]; phiPow[ix] = x < -700 ? 0 : Math.exp(x); } nPrev = n; }
    for (let ib = 0; ib < NA; ib++) { const x = m * lnPsi[ib]; psiPow[ib] = x < -700 ? 0 : Math.exp(x); }
    let i11 = 0, i21 = 0, i12 = 0, i22 = 0, ip = 0;
    for (let ia = 0; ia < NA; ia++) {
      const ea = eg[ia];
      for (let ib = 0; ib < NA; ib++) {
        const ix = ia * NA + ib, e1 = phiPow[ix] * psiPow[ib];
        if (e1 === 0) continue;
        const e2 = n >= 2 ? e1 / phi[ix] : 0, eb = eg[ib], ab = ea * eb;
        i11 += ab * b11[ix] * e1; i21 += ea * ab * b21[ix] * e1; i12 += ab * eb * b12[ix] * e1;
        i22 += ab * ab * b22[ix] * e1; ip += ab * ab * b11[ix] * b11[ix] * e2;
      }
    }
    const s = da * da;
    A[pi] = n * i11 * s;
    D[pi] = n * (i11 - i21 - i12 + i22) * s + n * (n - 1) * ip * s;
  });
  return { A, D };
}

/** ln F_D and ln F_κ on the nodes n = 2^k (k = 0..X), n′ = 2^{k+e} (e = 0..X − k + 1) at (v, ρ): t[k(X + 2) + e] */
function buildTable(v: number, rho: number, X: number): ShareTable {
  const pairs: [number, number][] = [];
  for (let k = 1; k <= X; k++) { const n = 2 ** k; for (let e = 0; e <= X - k + 1; e++) pairs.push([n, n * 2 ** e]); }
  const { A, D } = causalPairOverlaps(v, rho, pairs);
  const W = X + 2, lnFD = new Float64Array((X + 1) * W), lnFK = new Float64Array((X + 1) * W), deq = new Float64Array(X + 1), keq = new Float64Array(X + 1);
  let pi = 0;
  for (let k = 1; k <= X; k++) {
    const n = 2 ** k, p0 = pi, d0 = D[p0], k0 = A[p0] - 1 / n;
    deq[k] = d0; keq[k] = k0;
    for (let e = 0; e <= X - k + 1; e++, pi++) {
      const n2 = n * 2 ** e, fd = d0 > 1e-14 ? (n2 * D[pi]) / (n * d0) : 1, fk = k0 > 1e-14 ? (n2 * (A[pi] - 1 / n2)) / (n * k0) : 1;
      lnFD[k * W + e] = fd > 0 ? Math.log(fd) : 0; lnFK[k * W + e] = fk > 0 ? Math.log(fk) : 0;
    }
  }
  for (let e = 0; e < W; e++) { lnFD[e] = lnFD[W + Math.min(e, X)]; lnFK[e] = lnFK[W + Math.min(e, X)]; } // n = 1: the n = 2 row (its terms vanish)
  deq[0] = deq[1]; keq[0] = keq[1];
  const fD = lnFD.map(Math.exp);
  return { v, rho, X, lnFD, lnFK, fD, deq, keq };
}

/** ln v grid of the tables (step 1/2) and ρ nodes k/10 − 1: F is linear in ln v and in ρ between them */
const LV_STEP = 0.5, RHO_STEP = 0.1;
/**
 * The top ln v node (v = e^7 ≈ 1100): a larger logit variance is taken there. The rows are one-hot by
 * then (the attention kernel warns 'saturated' from v = 50 on): between v = 100 and e^7, F_κ and F_D at
 * ρ = 0.5 (rows of 8 and 64 keys) move by < 0.2 % (1.6036 → 1.6042, 1.6095 → 1.6115); F_D of highly
 * correlated rows still falls toward 1 (ρ = 0.9, 64 and 512 keys: 1.086 at v = 100, 1.030 at 300,
 * 1.0095 at 1000), so above e^7 it is ≤ 1 % high there. The quadrature itself breaks down above it
 * (its grids grow as σ³: 0.3 s per table at v = 1000, 3 s at 3000, and D underflows to NaN from
 * v = e^7.5, which read as F = 1), and a causal attention at v ~ 1e4 took minutes per table.
 */
const LV_TOP = 14;
function table(lv: number, ri: number, X: number): ShareTable {
  const key = `${lv}|${ri}|${X}`;
  let t = cache.get(key);
  if (!t) {
    if (cache.size > 4096) cache.clear();
    t = buildTable(Math.exp(lv * LV_STEP), ri * RHO_STEP - 1, X);
    cache.set(key, t);
  }
  return t;
}
/**
 * F (module header) for rows of n ≤ n′ keys at logit variance v and query correlation ρ: which = 0
 * the K path's F_D, 1 the weights' covariance F_κ. Tables per node of ln v (step 1/2) and ρ (step
 * 0.1), linear between them (an interpolation of the quadrature); nMax the longest row (sets the tables' size).
 */
export function causalShareF(v: number, rho: number, n: number, n2: number, nMax: number, which: 0 | 1): number {
  if (!(v > 1e-6) || n2 <= n || n < 2) return 1;
  const X = tableTop(nMax);
  const lv = Math.min(Math.log(v) / LV_STEP, LV_TOP), l0 = Math.floor(lv), wl = lv - l0;
  const rr = (Math.max(-1, Math.min(1, rho)) + 1) / RHO_STEP, r0 = Math.min(Math.floor(rr), 19), wr = rr - r0;
  shareNodes(nMax, n, n2, AT_NODES, 0);
  const i00 = AT_NODES[0], i01 = AT_NODES[1], i10 = AT_NODES[2], i11 = AT_NODES[3], fx = AT_NODES[4], fe = AT_NODES[5];
  let s = 0;
  for (const [li, a] of [[l0, 1 - wl], [l0 + 1, wl]] as const) for (const [ri, b] of [[r0, 1 - wr], [r0 + 1, wr]] as const) {
    if (a * b === 0) continue;
    const t = table(li, ri, X);
    s += a * b * bilerp(which === 0 ? t.lnFD : t.lnFK, i00, i01, i10, i11, fx, fe);
  }
  return Math.exp(s);
}

/**
 * F_D averaged over the queries' cosine law (softmax.ts cosineLaw at queryCosineDim, coordinate
 * correlation r): the K path weights a pair by ρ and passes the equal-row D_n(ρ), so
 *   F̄_D(n, n′) = Σ_ρ p(ρ) ρ D_n(ρ) F_D(n, n′; ρ) / Σ_ρ p(ρ) ρ D_n(ρ),
 * the law's mass put on the ρ nodes k/10 − 1 by linear hat weights (u = 1).
 */
const lawCache = new Map<string, Float64Array>();
const lawW = new Map<string, Float64Array>();
function lawWeights(dh: number, ri: number): Float64Array {
  const key = `${dh}|${ri}`;
  let p = lawW.get(key);
  if (!p) {
    p = new Float64Array(21);
    const r = ri * RHO_STEP - 1;
    const law = dh >= COS_DH_MAX ? { rho: Float64Array.of(r), w: Float64Array.of(1) } : cosineLaw(dh, r);
    for (let m = 0; m < law.rho.length; m++) {
      const x = (Math.max(-1, Math.min(1, law.rho[m])) + 1) / RHO_STEP, i = Math.min(19, Math.floor(x)), f = x - i;
      p[i] += law.w[m] * (1 - f); p[i + 1] += law.w[m] * f;
    }
    lawW.set(key, p);
  }
  return p;
}
function lawTable(lv: number, ri: number, dh: number, X: number): Float64Array {
  const key = `${lv}|${ri}|${dh}|${X}`;
  let t = lawCache.get(key);
  if (!t) {
    if (lawCache.size > 4096) lawCache.clear();
    const p = lawWeights(dh, ri), W = X + 2;
    const num = new Float64Array((X + 1) * W), den = new Float64Array(X + 1);
    for (let i = 0; i <= 20; i++) {
      if (!(p[i] > 1e-6)) continue;
      const rho = i * RHO_STEP - 1, tb = table(lv, i, X);
      for (let k = 0; k <= X; k++) {
        const wk = p[i] * rho * tb.deq[k];
        den[k] += wk;
        for (let e = 0; e < W; e++) num[k * W + e] += wk * tb.fD[k * W + e];
      }
    }
    t = new Float64Array((X + 1) * W);
    for (let k = 0; k <= X; k++) for (let e = 0; e < W; e++) { const f = den[k] !== 0 ? num[k * W + e] / den[k] : 1; t[k * W + e] = f > 0 ? Math.log(f) : 0; }
    lawCache.set(key, t);
  }
  return t;
}
export function causalShareFLaw(v: number, r: number, n: number, n2: number, nMax: number, dh: number): number {
  if (!(v > 1e-6) || n2 <= n || n < 2) return 1;
  return causalShareLaw(v, nMax, dh).at(r, n, n2);
}
/** the layer's F̄_D (v, the longest row nMax and the cosine law's dimension fixed) as a function of
 * the pair's query correlation r and lengths n ≤ n′: linear in ln v between the two ln v nodes and in
 * r between the ρ nodes k/10 − 1, bilinear in (log₂ n, log₂(n′/n)) on ln F̄ */
export interface ShareLaw {
  at(r: number, n: number, n2: number): number;
  /** at() for a pair whose length nodes shareNodes wrote to nodes[o..o + 6] (the same value, the
   * look-up's geometry computed once per pair of lengths rather than per call) */
  atNodes(r: number, nodes: Float64Array, o: number): number;
}
/** at()'s geometry for rows of n ≤ n′ keys (tables for rows up to nMax): out[o..o + 6] = the four
 * nodes' offsets and the weights fx, fe along log₂ n and log₂(n′/n); out[o] = −1 where F̄ = 1 (n′ ≤ n or n < 2) */
export function shareNodes(nMax: number, n: number, n2: number, out: Float64Array, o: number): void {
  if (n2 <= n || n < 2) { out[o] = -1; return; }
  const X = tableTop(nMax), x = Math.log2(n), dl = Math.log2(n2 / n), W = X + 2;
  const k = Math.max(0, Math.min(X - 1, Math.floor(x))), fx = Math.max(0, Math.min(1, x - k));
  const e = Math.max(0, Math.min(X, Math.floor(dl))), fe = Math.max(0, Math.min(1, dl - e));
  out[o] = k * W + Math.min(e, W - 1); out[o + 1] = k * W + Math.min(e + 1, W - 1); out[o + 2] = (k + 1) * W + Math.min(e, W - 1); out[o + 3] = (k + 1) * W + Math.min(e + 1, W - 1);
  out[o + 4] = fx; out[o + 5] = fe;
}
const AT_NODES = new Float64Array(6);
export function causalShareLaw(v: number, nMax: number, dh: number): ShareLaw {
  const X = tableTop(nMax);
  if (!(v > 1e-6)) return { at: () => 1, atNodes: () => 1 };
  const lv = Math.min(Math.log(v) / LV_STEP, LV_TOP), l0 = Math.floor(lv), wl = lv - l0;
  const t0: (Float64Array | undefined)[] = new Array(21), t1: (Float64Array | undefined)[] = new Array(21);
  const get = (li: number, ri: number) => {
    const arr = li === l0 ? t0 : t1;
    return (arr[ri] ??= lawTable(li, ri, dh, X));
  };
  const law: ShareLaw = {
    at(r: number, n: number, n2: number): number {
      if (n2 <= n || n < 2) return 1;
      shareNodes(nMax, n, n2, AT_NODES, 0);
      return law.atNodes(r, AT_NODES, 0);
    },
    atNodes(r: number, nodes: Float64Array, o: number): number {
      if (nodes[o] < 0) return 1;
      const rr = (Math.max(-1, Math.min(1, r)) + 1) / RHO_STEP, r0 = Math.min(Math.floor(rr), 19), wr = rr - r0;
      const i00 = nodes[o], i01 = nodes[o + 1], i10 = nodes[o + 2], i11 = nodes[o + 3], fx = nodes[o + 4], fe = nodes[o + 5];
      let s = 0;
      if (1 - wl > 0) {
        if (1 - wr > 0) s += (1 - wl) * (1 - wr) * bilerp(get(l0, r0), i00, i01, i10, i11, fx, fe);
        if (wr > 0) s += (1 - wl) * wr * bilerp(get(l0, r0 + 1), i00, i01, i10, i11, fx, fe);
      }
      if (wl > 0) {
        if (1 - wr > 0) s += wl * (1 - wr) * bilerp(get(l0 + 1, r0), i00, i01, i10, i11, fx, fe);
        if (wr > 0) s += wl * wr * bilerp(get(l0 + 1, r0 + 1), i00, i01, i10, i11, fx, fe);
      }
      return Math.exp(s);
    },
  };
  return law;
}
/** the tables' longest row 2^X: at least 512 (one table set serves every sequence length up to it) */
function tableTop(nMax: number): number { return Math.max(9, Math.ceil(Math.log2(Math.max(nMax, 2)))); }
/** ln F̄ bilinear in (log₂ n, log₂(n′/n)) between the table's nodes: i00…i11 the four nodes' offsets
 * (k·W + min(e, W − 1), W = X + 2), fx and fe the weights along the two axes */
function bilerp(f: Float64Array, i00: number, i01: number, i10: number, i11: number, fx: number, fe: number): number {
  return (1 - fx) * ((1 - fe) * f[i00] + fe * f[i01]) + fx * ((1 - fe) * f[i10] + fe * f[i11]);
}
