/**
 * The attention block's reported forward r: the mean over token pairs of the per-pair cosine (config
 * v1's statistic), where the kernel propagates the population ratio E[o_i·o_j]/E|o_i|² (derived here).
 *
 * Per head and row, |o_i|²/d ≈ B_i = b0 + b1 S_i with S_i = Σ_k P_ik² (b0 = r′ + (1 − r′)τ, b1 =
 * (1 − r′ + r′p_a)/(1 − p_a), in units of the value variance; τ the tilt), and o_i·o_j/d ≈ A_ij =
 * a0 + a1 Σ_k P_ik P_jk. The heads' outputs add, so B̄_i and Ā_ij are means over the h heads. For two
 * rows whose logits are independent, E[P_ik B_i^{−1/2}] = E[B^{−1/2}]/n by exchangeability of the
 * keys, so E[A_ij/√(B_i B_j)] = E[A]·E[B̄^{−1/2}]² exactly (causal rows: E[B̄_i^{−1/2}]E[B̄_j^{−1/2}],
 * the shared keys' count cancelling against 1/max(n_i, n_j)): the reported cosine is the population
 * ratio times E[B̄^{−1/2}]²E[B̄] ≥ 1 (Jensen). Left out: the rows' correlation through their queries
 * (rows whose queries point alike overlap more when concentrated: lowers the factor by ~1–3 % at
 * d_h = 4, numpy MC) and S_i's correlation with S_j through shared keys.
 *
 * E[S^{−1/2}] for one row of n iid Gaussian logits of variance σ² is exact by a Laplace integral:
 * S^{−1/2} = Z/√N, Z = Σ e^{l_k}, N = Σ e^{2l_k}, N^{−1/2} = π^{−1/2}∫ t^{−1/2}e^{−tN}dt, so
 *   E[S^{−1/2}] = n e^{σ²/2} π^{−1/2} ∫ e^{x/2} Φ(x + 2σ²) Φ(x)^{n−1} dx,  Φ(x) = E_z[exp(−e^{x + 2σz})]
 * (E[e^{l}e^{−te^{2l}}] = e^{σ²/2}Φ(ln t + 2σ²) by shifting the Gaussian). Q = 1 − Φ is computed
 * directly (so that Φ^{n−1} keeps its precision): for 2σ < 1 by Gauss quadrature in z, otherwise as
 * E_W[Ncdf((x − W)/(2σ))] over the Gumbel law of W (P(W < w) = 1 − exp(−e^w): 1 − exp(−e^y) =
 * P(W < y)), trapezoid in W with the exponential left tail in closed form. The x integral is a
 * trapezoid rule (step 1/2, σ/4 above σ = 2) with the tail below x_lo, where Φ(x)^{n−1} ≈ 1, in
 * closed form. Tabulated per n on a grid in ln σ (step 0.2, 0.05 ≤ σ ≤ 40; interpolation: cubic Lagrange
 * in ln σ of ln(E[S^{−1/2}]/√n); outside the grid clamped to its ends: below σ = 0.05 S ≈ 1/n (the
 * factor below is 1 + O(σ⁴)), above σ = 40 the rows are one-hot but for a share ~1/σ).
 *
 * The law of S over rows (the rows' logit-variance factor u included) is taken lognormal with its
 * exact mean K2/n and its exact E[S^{−1/2}] (E[S^{−1/2}]²E[S] = e^{3s²/4}): a moment match on the
 * bulk, not on Q4, which the rare one-hot rows dominate (matched on Q4 the factor was 5–10 % high at
 * h = 1). Mean over h iid heads: lognormal with the same mean and relative variance (e^{s²} − 1)/h
 * (Fenton–Wilkinson); E[(b0 + b1 S̄)^{−1/2}] by Gauss–Hermite quadrature.
 */
import { normalNodes } from './_core.js';

const SG_MIN = Math.log(0.05), SG_STEP = 0.2, SG_N = Math.round((Math.log(40) - SG_MIN) / SG_STEP) + 1;
const W_LO = -8, W_HI = 3, W_STEP = 0.75;
const ZS = normalNodes([], 5); // small-σ branch: Q(x) = E_z[1 − exp(−e^{x + 2σz})]
const LN = normalNodes([], 3); // lognormal law of S̄

/** erfc (W. H. Press et al., Numerical Recipes erfcc: Chebyshev fit, fractional error < 1.2e-7) */
function erfc(x: number): number {
  const z = Math.abs(x), t = 1 / (1 + 0.5 * z);
  const a = t * Math.exp(-z * z - 1.26551223 + t * (1.00002368 + t * (0.37409196 + t * (0.09678418 + t * (-0.18628806 + t * (0.27886807 + t * (-1.13520398 + t * (1.48851587 + t * (-0.82215223 + t * 0.17087277)))))))));
  return x >= 0 ? a : 2 - a;
}
const ncdf = (z: number): number => 0.5 * erfc(-z / Math.SQRT2);
/** ln Ncdf(z) for z ≤ 0 (the same fit in log form: no underflow) */
function lnNcdfNeg(z: number): number {
  const y = -z / Math.SQRT2, t = 1 / (1 + 0.5 * y);
  return Math.log(0.5 * t) - y * y - 1.26551223 + t * (1.00002368 + t * (0.37409196 + t * (0.09678418 + t * (-0.18628806 + t * (0.27886807 + t * (-1.13520398 + t * (1.48851587 + t * (-0.82215223 + t * 0.17087277))))))));
}

/** Gumbel nodes and trapezoid weights of W on [W_LO, W_HI] */
const GW: { w: Float64Array; f: Float64Array } = (() => {
  const m = Math.round((W_HI - W_LO) / W_STEP) + 1, w = new Float64Array(m), f = new Float64Array(m);
  for (let i = 0; i < m; i++) {
    const x = W_LO + i * W_STEP;
    w[i] = x; f[i] = W_STEP * (i === 0 || i === m - 1 ? 0.5 : 1) * Math.exp(x - Math.exp(x));
  }
  return { w, f };
})();

/** [Φ(x), Q(x) = 1 − Φ(x)] with Φ(x) = E_z[exp(−e^{x + 2σz})], each to its own relative precision */
const PQ = new Float64Array(2);
function phiQ(x: number, sig: number): void {
  const s = 2 * sig;
  let p = 0, q = 0;
  if (s < 1) {
    for (let k = 0; k < ZS.z.length; k++) {
      const e = Math.exp(x + s * ZS.z[k]);
      p += ZS.w[k] * Math.exp(-e); q -= ZS.w[k] * Math.expm1(-e);
    }
  } else {
    // Φ = P(W > x + sZ) = E_W[Ncdf((W − x)/s)], Q = E_W[Ncdf((x − W)/s)]; W's left tail below W_LO
    // (density e^w) in closed form, its right tail above W_HI (mass e^{−e^{W_HI}}) left out
    const zt = (W_LO - x - s * s) / s;
    q = Math.exp(W_LO) * ncdf((x - W_LO) / s) + (zt < 0 ? Math.exp(x + (s * s) / 2 + lnNcdfNeg(zt)) : Math.exp(x + (s * s) / 2) * ncdf(zt));
    p = Math.exp(W_LO) - q; // the tail's part of Φ (small; clamped below)
    p = p > 0 ? p : 0;
    const { w, f } = GW, c = 1 / (s * Math.SQRT2);
    for (let i = 0; i < w.length; i++) {
      const y = (w[i] - x) * c, e = erfc(Math.abs(y)); // 2·Ncdf(−|·|)
      if (y >= 0) { p += f[i] * (1 - 0.5 * e); q += f[i] * 0.5 * e; } else { p += f[i] * 0.5 * e; q += f[i] * (1 - 0.5 * e); }
    }
  }
  PQ[0] = p; PQ[1] = q;
}

/** per σ node: the x grid's weights a_x = step·e^{x/2}Φ(x + 2σ²) and ln Φ(x), and the tail 2e^{x_lo/2} */
interface SigNode { a: Float64Array; lphi: Float64Array; tail: number; pre: number }
const SIG: (SigNode | undefined)[] = new Array(SG_N);
function sigNode(g: number): SigNode {
  let nd = SIG[g];
  if (nd) return nd;
  const sig = Math.exp(SG_MIN + g * SG_STEP), s2 = 2 * sig * sig;
  // the integrand e^{x/2}Φ(x + 2σ²)e^{σ²/2} is ≈ e^{−x²/(8σ²)} at large σ (Gaussian tail of the shifted
  // law): x from the lower of (both Φ ≈ 1, that Gaussian's 6 sd) to its upper 5 sd
  const xlo = Math.max(-s2 - 10 * sig - 10, -12 * sig - 10), xhi = 10 * sig + 6, h = sig > 2 ? sig / 4 : 0.5;
  const m = Math.ceil((xhi - xlo) / h) + 1;
  const a = new Float64Array(m), lphi = new Float64Array(m);
  for (let i = 0; i < m; i++) {
    const x = xlo + i * h;
    phiQ(x + s2, sig);
    a[i] = h * (i === 0 ? 0.5 : 1) * Math.exp(x / 2) * PQ[0];
    phiQ(x, sig);
    lphi[i] = PQ[1] < 0.5 ? Math.log1p(-PQ[1]) : PQ[0] > 0 ? Math.log(PQ[0]) : -Infinity;
  }
  phiQ(xlo + s2, sig);
  nd = { a, lphi, tail: 2 * Math.exp(xlo / 2) * PQ[0], pre: Math.exp((sig * sig) / 2) / Math.sqrt(Math.PI) };
  SIG[g] = nd;
  return nd;
}

/** ln(E[S^{−1/2}]/√n) on the ln σ grid, per n (memoised; each grid value computed on first use) */
const rows = new Map<number, Float64Array>();
function rowVal(n: number, g: number): number {
  let r = rows.get(n);
  if (!r) { r = new Float64Array(SG_N).fill(NaN); rows.set(n, r); }
  const v = r[g];
  if (v === v) return v;
  const { a, lphi, tail, pre } = sigNode(g);
  let sum = tail;
  for (let i = 0; i < a.length; i++) if (a[i] > 0) sum += a[i] * Math.exp((n - 1) * lphi[i]);
  return (r[g] = Math.log(Math.max((n * pre * sum) / Math.sqrt(n), 1e-300)));
}

/** E[S^{−1/2}] of a softmax row of n iid N(0, σ²) logits (S = Σ_k P_k²): exact up to quadrature,
 * interpolated on the tabulated ln σ grid (see the header). */
export function invSqrtS(n: number, sig: number): number {
  if (n <= 1 || !(sig > 0)) return Math.sqrt(Math.max(n, 1));
  const t = (Math.log(sig) - SG_MIN) / SG_STEP;
  if (t <= 0) return Math.sqrt(n) * Math.exp(rowVal(n, 0));
  if (t >= SG_N - 1) return Math.sqrt(n) * Math.exp(rowVal(n, SG_N - 1));
  let g = Math.floor(t) - 1;
  g = Math.max(0, Math.min(SG_N - 4, g));
  const x = t - g;
  const c0 = (-(x - 1) * (x - 2) * (x - 3)) / 6, c1 = (x * (x - 2) * (x - 3)) / 2;
  const c2 = (-x * (x - 1) * (x - 3)) / 2, c3 = (x * (x - 1) * (x - 2)) / 6;
  return Math.sqrt(n) * Math.exp(c0 * rowVal(n, g) + c1 * rowVal(n, g + 1) + c2 * rowVal(n, g + 2) + c3 * rowVal(n, g + 3));
}

/** probabilists' 5-point Gauss–Hermite rule (the rows' logit-variance factor u, as attnSoftmaxStats) */
const GH5_Z = [0, 1.3556261799742659, -1.3556261799742659, 2.8569700138728056, -2.8569700138728056];
const GH5_W = [8 / 15, (7 + 2 * Math.sqrt(10)) / 60, (7 + 2 * Math.sqrt(10)) / 60, (7 - 2 * Math.sqrt(10)) / 60, (7 - 2 * Math.sqrt(10)) / 60];

/**
 * The per-pair factor √(E[B̄] )·E[B̄^{−1/2}] of one row (≥ 1): B = b0 + b1 S per head, S the row's
 * Σ_k P_k² with mean ES (= K2/n, averaged over u), n keys, logit variance v·u (u lognormal with
 * relative variance rel, 5 nodes), h heads. The reported pair cosine is the population one times the
 * two rows' factors.
 */
export function cosFactor(n: number, v: number, rel: number, h: number, ES: number, b0: number, b1: number): number {
  if (!(n > 1) || !(v > 0) || !(ES > 0) || !(b1 > 0)) return 1;
  let e = 0;
  if (rel > 0) {
    const s2u = Math.log1p(rel), su = Math.sqrt(s2u), mu = -s2u / 2;
    for (let k = 0; k < 5; k++) e += GH5_W[k] * invSqrtS(n, Math.sqrt(v * Math.exp(mu + su * GH5_Z[k])));
  } else e = invSqrtS(n, Math.sqrt(v));
  const F1 = e * e * ES;
  if (!(F1 > 1)) return 1;
  const s2 = (4 / 3) * Math.log(F1), s2h = Math.log1p(Math.expm1(s2) / Math.max(1, h)), sh = Math.sqrt(s2h);
  // S ≥ 1/n, so B ≥ b0 + b1/n (> 0 also for a negative shared part b0: anti-correlated tokens)
  const EB = b0 + b1 * ES, Bmin = b0 + b1 / n;
  if (!(EB > 0) || !(Bmin > 0)) return 1;
  let eb = 0;
  for (let k = 0; k < LN.z.length; k++) eb += LN.w[k] / Math.sqrt(Math.max(b0 + b1 * ES * Math.exp(sh * LN.z[k] - s2h / 2), Bmin));
  const f = eb * Math.sqrt(EB);
  return f > 1 ? f : 1;
}
