/**
 * Position-resolved fold for causal stacks (the engine dispatches every causal config with the
 * default formulas here; non-causal configs never reach this file).
 *
 * Why. Causal row i averages over i + 1 positions, so early positions keep large, private
 * attention outputs and receive large gradients (column j is read by every row i ≥ j), and a norm
 * divides each position by its own variance. A position-averaged state (var, r) cannot represent
 * that; an L × L kernel can.
 *
 * State (derived here; NNGP-style kernel propagation, exact in expectation over the weights):
 *   forward  K_ij = E[x_if x_jf] (uncentred, per feature; features are exchangeable), the
 *            per-position mean m_i (the same for every feature), and per position the O(1/d)
 *            quantities the scalar engine carries (κ: relative variance of the token's mean square,
 *            ν: fraction of the variance in the token's feature mean);
 *   backward G_ij = E[g_if g_jf] of dLoss/dx and the per-position gradient alignments a, b with
 *            the token / all-ones directions (src/types.ts GradMoments).
 * Positions are grouped into clusters (Grid): every position its own cluster up to seqLen
 * MAX_EXACT (exact); beyond, positions are SUB-SAMPLED: the first CLUSTERS/2 stay single and the
 * rest are split into CLUSTERS/2 geometrically growing clusters whose tokens are treated as
 * exchangeable (a cluster holds its diagonal D_g and the kernel O_gg of two of its distinct tokens;
 * its rows are represented by the middle one). Against the exact fold (one cluster per position)
 * this moves var, r, gradR by < 1e-4 and gradVar by < 0.4 % at seqLen 128 and 512.
 * Reported statistics are averages over positions (config v1): var = mean_i K_ii − m̄²,
 * r = mean over ordered pairs i ≠ j of K̃_ij/√(K̃_ii K̃_jj) with K̃ centred at the global mean m̄.
 *
 * Maps (each the block's scalar formula applied per position, or per pair of positions):
 *   linear W (dIn → dOut, σ):  K ← dIn σ² K (the mean becomes shared covariance, m ← 0); backward
 *            G ← dOut σ² G.
 *   activation φ after W1 (zero-mean Gaussian pairs with covariance K): K'_ij = E[φ(a_i)φ(a_j)]
 *            (uncentred; ReLU: the arc-cosine kernel √(K_ii K_jj)(sin θ + (π−θ)cos θ)/(2π),
 *            θ = acos ρ_ij; others: Mehler series with Hermite coefficients at each position's
 *            variance, formulas/_activation.ts), backward G'_ij = G_ij E[φ'(a_i)φ'(a_j)]
 *            (ReLU: (π − θ)/(2π)).
 *   dropout p:  K_ii ← K_ii/(1−p) (masks of different tokens are independent); G_ii likewise.
 *   residual λx + βF: K ← λ²K_x + β²K_F (the branch ends in a fresh zero-mean linear map, so the
 *            cross terms vanish); G ← λ²G + β²G_F.
 *   LayerNorm: per token (x − x̄)/√(v + eps): centred correlation ρ_ij = C_ij/√(C_ii C_jj)
 *            (C = K − m mᵀ) unchanged, K'_ii = c_i/(c_i + eps) with c_i = C_ii(1 − ν_i);
 *            backward G'_ii = G_ii f_i, f_i = (1 − (a_i+b_i)/d)/(1 − κ_i/(1−ν_i))/(c_i + eps),
 *            G'_ij = G_ij (d − 3 + ρ_ij²)/(d − 2) √(f_i f_j) — formulas/layernorm.ts per position.
 *   RMSNorm: K'_ij = K_ij/√((K_ii + eps)(K_jj + eps)), m'_i = m_i/√(K_ii + eps); backward as
 *            formulas/rmsnorm.ts per position (uncentred ρ, (d − 2 + ρ²)/(d − 1)).
 *   causal attention: formulas/attention-causal.ts (expected weights plus the softmax
 *            fluctuation terms K2, X2, J per row; V path backward as the exact adjoint; Q and
 *            K paths; the K-path gradient sums to zero over positions).
 * At seqLen 1 the fold is the scalar engine (to the 1e-7 quantisation of the activation
 * quadrature); one attention layer on an exchangeable input gives formulas/attention.ts's causal
 * numbers (see formulas/attention-causal.ts for the one K-path convention that differs);
 * test/causal.test.ts checks both.
 *
 * Cost: O(P²) per sub-layer (prefix sums instead of O(P³) products), P = seqLen ≤ MAX_EXACT, else CLUSTERS.
 */
import type { GradMoments, Method, Moments } from './types.js';
import type { Plan, Prediction, PredictOptions, SubTrace } from './engine.js';
import { assemble, forwardExplosion, packEntries, packGrads } from './engine.js';
import type { Stage, StageTrace } from '../formulas/_chain.js';
import { excessFactor, layernorm, layernormGradR, normDomainWarning, normOutsideDomain } from '../formulas/layernorm.js';
import { attnHomog, ffnPostExcess, HOM_ATTN, homogAlign, homogBranch } from '../formulas/residual.js';
import { rmsnorm } from '../formulas/rmsnorm.js';
import { attention, logitVarText, type AttentionParams } from '../formulas/attention.js';
import { dropout } from '../formulas/dropout.js';
import { linear } from '../formulas/linear.js';
import { relu, RELU } from '../formulas/relu.js';
import { gelu, GELU, GELU_TANH } from '../formulas/gelu.js';
import { silu, SILU, SILU_S_MAX, siluDomainWarning } from '../formulas/silu.js';
import { keep2, swiglu } from '../formulas/swiglu.js';
import { activationDispersion, type ActivationFns } from '../formulas/_activation.js';
import { hermiteCoefficients, iidPairFluct, normalNodes, pairGap } from '../formulas/_core.js';
import { causalAttentionBackward, causalAttentionForward, type CausalAttnCache, type Grid, type Kernel } from '../formulas/attention-causal.js';

/** Positions resolved one by one up to this sequence length; above it, CLUSTERS clusters. */
export const MAX_EXACT = 48;
export const CLUSTERS = 32;

/** A forward state over positions; f2/fa: the pair fluctuation moments Cov(B_g, B_h) and Cov(A_gh, B)
 * (symmetrised over the two tokens) per pair of positions, P×P (formulas/_core.ts cosGap; absent:
 * unknown). */
export interface KState extends Kernel { m: Float64Array; kappa: Float64Array; nu: Float64Array | null; f2?: Float64Array; fa?: Float64Array }
export interface GState extends Kernel { a: Float64Array | null; b: Float64Array | null }

// ------------------------------------------------------------------ grid

export function makeGrid(L: number, maxP = L <= MAX_EXACT ? L : CLUSTERS): Grid {
  const bounds: number[] = [0];
  if (L <= maxP) for (let i = 1; i <= L; i++) bounds.push(i);
  else {
    const S = Math.floor(maxP / 2), K = maxP - S;
    for (let i = 1; i <= S; i++) bounds.push(i);
    for (let k = 1; k <= K; k++) {
      let b = k === K ? L : Math.round(S * Math.pow(L / S, k / K));
      b = Math.max(b, bounds[bounds.length - 1] + 1);
      if (b > L - (K - k)) b = L - (K - k);
      bounds.push(b);
    }
  }
  const P = bounds.length - 1;
  const w = new Float64Array(P), start = new Int32Array(P), t = new Int32Array(P), n = new Float64Array(P), fo = new Float64Array(P), omega = new Float64Array(P * P);
  for (let g = 0; g < P; g++) {
    start[g] = bounds[g]; w[g] = bounds[g + 1] - bounds[g];
    t[g] = Math.floor((bounds[g] + bounds[g + 1] - 1) / 2);
    n[g] = t[g] + 1; fo[g] = (t[g] - start[g] + 1) / w[g];
  }
  for (let g = 0; g < P; g++) for (let h = 0; h < P; h++) omega[g * P + h] = g === h ? w[g] * (w[g] - 1) : w[g] * w[h];
  return { L, P, w, start, t, n, fo, omega };
}

// ------------------------------------------------------------------ statistics

const clamp1 = (x: number) => (x > 1 ? 1 : x < -1 ? -1 : x);

// ------------------------------------------------------------------ pair fluctuations (cosGap)

/** Uncentred pair correlation of a state's kernel. */
const rhoOf = (D: Float64Array, O: Float64Array, P: number, g: number, h: number) => { const den = Math.sqrt(D[g] * D[h]); return den > 0 ? clamp1(O[g * P + h] / den) : 0; };

/** Pair fluctuations with Gaussian structure at per-position dispersions k (features iid given the
 * pair: Cov(B_g, B_h) = √(k_g k_h)ρ², Cov(A, B) = √(k_g k_h)ρ), ρ the output's uncentred correlation. */
function gaussPair(P: number, k: Float64Array, D: Float64Array, O: Float64Array): { f2: Float64Array; fa: Float64Array } {
  const f2 = new Float64Array(P * P), fa = new Float64Array(P * P);
  // (rhoOf inlined; the row's D and k read once per row)
  for (let g = 0; g < P; g++) {
    const dg = D[g], kg = k[g], row = g * P;
    for (let h = 0; h < P; h++) {
      const den = Math.sqrt(dg * D[h]), rho = den > 0 ? clamp1(O[row + h] / den) : 0, kk = Math.sqrt(Math.max(kg * k[h], 0));
      f2[row + h] = kk * rho * rho; fa[row + h] = kk * rho;
    }
  }
  return { f2, fa };
}

/** The finite-width gap E[cos] − ρ of the pair (g, h) of a zero-mean state (formulas/_core.ts
 * cosGap, κ averaged over the two positions); 0 where unknown or with a mean. */
function statePairGap(s: KState, P: number, g: number, h: number, rho: number): number {
  if (!s.f2 || !s.fa || s.m[g] !== 0 || s.m[h] !== 0) return 0;
  const i = g * P + h;
  return pairGap(rho, 0.5 * (s.kappa[g] + s.kappa[h]), s.f2[i], s.fa[i]);
}

/**
 * Config-v1 statistics of a kernel over positions, centred at the sample mean of a batch of B
 * sequences (B = ∞: at the expected mean). Per feature, C_ij is the kernel centred at the expected
 * global mean, and ν_i the fraction of position i's variance carried by its feature mean, so that
 * Cov(Σ_f x_if, Σ_f x_jf) = d²√(ν_iν_j) C_ij (ν = 1/d for independent features, 0 after a
 * LayerNorm). The batch mean e = Σ_{b,i,f}(x − m̄)/(BLd) then has E[e²] = S/(BL²) and
 * E[(x_if − m̄)e] = s_i/(BL), s_i = Σ_j √(ν_iν_j) C_ij, S = Σ_i s_i, so the measured kernel is
 *   Ĉ_ij = C_ij − (s_i + s_j)/(BL) + S/(BL²);  var = mean_i Ĉ_ii,  r = mean_{i≠j} Ĉ_ij/√(Ĉ_ii Ĉ_jj).
 * It matters only when most positions are far smaller than a few others (deep causal Post-LN:
 * the gradient sits almost entirely at position 0, and the batch mean then dominates the others).
 */
function centredStats(grid: Grid, D: Float64Array, O: Float64Array, m: Float64Array | null, nu: Float64Array | null, nuDefault: number, B?: number, gs?: KState): { mean: number; var: number; r: number } {
  const { P, w, L, omega } = grid;
  let mbar = 0;
  if (m) { for (let g = 0; g < P; g++) mbar += w[g] * m[g]; mbar /= L; }
  const mz = m ?? new Float64Array(P), mo = (g: number) => mz[g]; // (no mean: zeros)
  // co: scratch reused from call to call (every entry written here; only the scalars are returned)
  if (CO.length !== P * P) CO = new Float64Array(P * P);
  const cd = new Float64Array(P), co = CO;
  for (let g = 0; g < P; g++) {
    const mg = mz[g], row = g * P;
    cd[g] = D[g] - 2 * mbar * mg + mbar * mbar;
    for (let h = 0; h < P; h++) co[row + h] = O[row + h] - mbar * (mg + mz[h]) + mbar * mbar;
  }
  if (B !== undefined && Number.isFinite(B) && B > 0) {
    const sn = new Float64Array(P), s = new Float64Array(P);
    for (let g = 0; g < P; g++) sn[g] = Math.sqrt(Math.max(nu ? nu[g] : nuDefault, 0));
    // own-mean-centred covariances (the per-position means are deterministic)
    let S = 0;
    for (let g = 0; g < P; g++) {
      let acc = sn[g] * (D[g] - mo(g) * mo(g)) + (w[g] - 1) * sn[g] * (O[g * P + g] - mo(g) * mo(g));
      for (let h = 0; h < P; h++) if (h !== g) acc += w[h] * sn[h] * (O[g * P + h] - mo(g) * mo(h));
      s[g] = sn[g] * acc; S += w[g] * s[g];
    }
    const BL = B * L, e2 = S / (BL * L);
    for (let g = 0; g < P; g++) {
      cd[g] += -2 * s[g] / BL + e2;
      for (let h = 0; h < P; h++) co[g * P + h] += -(s[g] + s[h]) / BL + e2;
    }
  }
  let v = 0;
  for (let g = 0; g < P; g++) v += w[g] * cd[g];
  let rs = 0, ws = 0;
  // each pair's gap (statePairGap, inlined): only for a zero-mean pair of a state with f2/fa
  const f2 = gs?.f2, fa = gs?.fa, gm = gs?.m, gk = gs?.kappa;
  for (let g = 0; g < P; g++) {
    const cdg = cd[g], row = g * P, gapG = f2 !== undefined && fa !== undefined && gm![g] === 0;
    for (let h = 0; h < P; h++) {
      const om = omega[row + h];
      if (om === 0) continue;
      const den = Math.sqrt(cdg * cd[h]);
      if (den > 0) {
        const rho = clamp1(co[row + h] / den);
        if (!gs) rs += om * rho;
        else rs += om * clamp1(rho + (gapG && gm![h] === 0 ? pairGap(rho, 0.5 * (gk![g] + gk![h]), f2![row + h], fa![row + h]) : 0));
      }
      ws += om;
    }
  }
  return { mean: mbar, var: Math.max(v / L, 0), r: ws > 0 ? rs / ws : 0 };
}

let CO = new Float64Array(0);

/** Position-averaged moments (config v1 statistics) of a forward state. */
export function forwardMoments(grid: Grid, s: KState, d: number, B?: number): Moments {
  const { P, w, L } = grid;
  let kap = 0, nu = 0;
  for (let g = 0; g < P; g++) { kap += w[g] * s.kappa[g]; if (s.nu) nu += w[g] * s.nu[g]; }
  // config v1's r: the mean per-pair cosine, each pair's pooled ρ plus its finite-width gap
  const out: Moments = { ...centredStats(grid, s.D, s.O, s.m, s.nu, 1 / d, B, s.f2 && s.fa ? s : undefined), kappa: kap / L };
  if (s.nu) out.nu = nu / L;
  return out;
}

/** Position-averaged gradient moments; the alignment b with the all-ones direction plays the role
 * of dν (Var(Σ_f g_if) = d b_i G_ii). */
export function gradMoments(grid: Grid, g: GState, d: number, B?: number): GradMoments {
  const { P, w } = grid;
  let nu: Float64Array | null = null;
  if (g.b) { nu = new Float64Array(P); for (let a = 0; a < P; a++) nu[a] = g.b[a] / d; }
  const st = centredStats(grid, g.D, g.O, null, nu, 1 / d, B);
  const out: GradMoments = { var: st.var, r: st.r };
  if (g.a) { let s = 0, t = 0; for (let a = 0; a < P; a++) { s += w[a] * g.D[a] * g.a[a]; t += w[a] * g.D[a]; } out.align = t > 0 ? s / t : 0; }
  if (g.b) { let s = 0, t = 0; for (let a = 0; a < P; a++) { s += w[a] * g.D[a] * g.b[a]; t += w[a] * g.D[a]; } out.alignMean = t > 0 ? s / t : 0; }
  return out;
}

// ------------------------------------------------------------------ helpers

const filled = (P: number, x: number) => new Float64Array(P).fill(x);
const scaled = (a: Float64Array, s: number, o = new Float64Array(a.length)) => { for (let i = 0; i < a.length; i++) o[i] = a[i] * s; return o; };
/** scaled into a scratch array reused from call to call (for a kernel read and then dropped, never kept) */
let SCALED = new Float64Array(0);
const scaledScratch = (a: Float64Array, s: number) => scaled(a, s, SCALED.length === a.length ? SCALED : (SCALED = new Float64Array(a.length)));

// ------------------------------------------------------------------ activations on pairs of positions

interface ActCoeffs { s: number; mean: number; m2: number; dm2: number; cf: Float64Array; cd: Float64Array; kf: number; kd: number }
const actMemo = new Map<string, Map<number, ActCoeffs>>();
const pairMemo = new Map<string, Map<number, [number, number]>>();
const KEY_RES = 1e7; // variances are quantised to 1e-7 relative for the quadrature memo

function actKey(s: number): number { return Math.round(Math.log(s) * KEY_RES); }

/** last index with a coefficient above 1e-9 of the rms (the rest is left to the tail closure) */
function lastSignificant(c: Float64Array, m2: number): number {
  const tol = 1e-9 * Math.sqrt(Math.max(m2, 1e-300));
  for (let k = c.length - 1; k > 0; k--) if (Math.abs(c[k]) > tol) return k;
  return 0;
}

function actCoeffs(a: ActivationFns, s: number): ActCoeffs {
  let byS = actMemo.get(a.name);
  if (!byS) { byS = new Map(); actMemo.set(a.name, byS); }
  const key = actKey(s);
  let c = byS.get(key);
  if (!c) {
    const sq = Math.exp(key / KEY_RES), sigma = Math.sqrt(sq);
    const cf = hermiteCoefficients(a.f, 0, sigma, a.kink), cd = hermiteCoefficients(a.df, 0, sigma, a.kink);
    const { z, w } = normalNodes(a.kink !== undefined ? [a.kink / sigma] : [], 48);
    let m2 = 0, dm2 = 0;
    for (let i = 0; i < z.length; i++) { const x = sigma * z[i], fx = a.f(x), dx = a.df(x); m2 += w[i] * fx * fx; dm2 += w[i] * dx * dx; }
    c = { s: sq, mean: cf[0], m2, dm2, cf, cd, kf: lastSignificant(cf, m2), kd: lastSignificant(cd, dm2) };
    if (byS.size > 20000) byS.clear();
    byS.set(key, c);
  }
  return c;
}

function pairMap(a: ActivationFns): Map<number, [number, number]> {
  let m = pairMemo.get(a.name);
  if (!m) { m = new Map(); pairMemo.set(a.name, m); }
  return m;
}

/** E[f(σ_g Z) f(σ_h Z)] and E[f'(σ_g Z) f'(σ_h Z)] (the Mehler series' value at correlation 1). */
function atOne(a: ActivationFns, cg: ActCoeffs, ch: ActCoeffs, m: Map<number, [number, number]>, kg: number, kh: number): [number, number] {
  if (cg.s === ch.s) return [cg.m2, cg.dm2];
  const key = Math.min(kg, kh) * 4294967296 + Math.max(kg, kh);
  let v = m.get(key);
  if (!v) {
    const sg = Math.sqrt(cg.s), sh = Math.sqrt(ch.s);
    const { z, w } = normalNodes(a.kink !== undefined ? [a.kink] : [], 48);
    let ff = 0, dd = 0;
    for (let i = 0; i < z.length; i++) { ff += w[i] * a.f(sg * z[i]) * a.f(sh * z[i]); dd += w[i] * a.df(sg * z[i]) * a.df(sh * z[i]); }
    v = [ff, dd];
    if (m.size > 20000) m.clear();
    m.set(key, v);
  }
  return v;
}

/** Σ_k ρ^k a_k b_k up to the last significant term K, the rest closed so that the sum is exact at ρ = 1. */
function mehler(a: Float64Array, b: Float64Array, K: number, rho: number, one: number): number {
  let sum = 0, full = 0, rk = 1;
  for (let k = 0; k <= K; k++) { const t = a[k] * b[k]; sum += rk * t; full += t; rk *= rho; }
  return sum + (rho >= 0 ? (one - full) * rk : 0);
}

interface ActPairs { mean: Float64Array; e2: Float64Array; ff: Float64Array; dm2: Float64Array; dd: Float64Array }

/** Per position and per pair moments of φ(a) (ff) or of φ'(a) (dd) for zero-mean Gaussian a with kernel (D, O). */
function actPairs(a: ActivationFns, P: number, D: Float64Array, O: Float64Array, want: 'f' | 'd'): ActPairs {
  const mean = new Float64Array(P), e2 = new Float64Array(P), dm2 = new Float64Array(P), out = new Float64Array(P * P);
  const wf = want === 'f';
  if (a === RELU) {
    for (let g = 0; g < P; g++) { mean[g] = Math.sqrt(Math.max(D[g], 0) / (2 * Math.PI)); e2[g] = D[g] / 2; dm2[g] = D[g] > 0 ? 0.5 : 0; }
    for (let g = 0; g < P; g++) for (let h = g; h < P; h++) {
      const den = Math.sqrt(D[g] * D[h]);
      const rho = den > 0 ? clamp1(O[g * P + h] / den) : 0, th = Math.acos(rho);
      const y = wf ? (den * (Math.sin(th) + (Math.PI - th) * rho)) / (2 * Math.PI) : den > 0 ? (Math.PI - th) / (2 * Math.PI) : 0;
      out[g * P + h] = out[h * P + g] = y;
    }
    return wf ? { mean, e2, ff: out, dm2, dd: new Float64Array(0) } : { mean, e2, ff: new Float64Array(0), dm2, dd: out };
  }
  const co: ActCoeffs[] = [];
  for (let g = 0; g < P; g++) {
    if (D[g] <= 0) { co.push({ s: 0, mean: a.f(0), m2: a.f(0) ** 2, dm2: a.df(0) ** 2, cf: new Float64Array(0), cd: new Float64Array(0), kf: 0, kd: 0 }); }
    else co.push(actCoeffs(a, D[g]));
    mean[g] = co[g].mean; e2[g] = co[g].m2; dm2[g] = co[g].dm2;
  }
  // atOne's memo and each position's quantised key, looked up once per call (not per pair)
  const pm = pairMap(a), keys = new Float64Array(P);
  for (let g = 0; g < P; g++) keys[g] = co[g].s > 0 ? actKey(co[g].s) : 0;
  for (let g = 0; g < P; g++) for (let h = g; h < P; h++) {
    const cg = co[g], ch = co[h];
    let y: number;
    if (cg.s <= 0 || ch.s <= 0) y = wf ? cg.mean * ch.mean : Math.sqrt(cg.dm2 * ch.dm2);
    else {
      const rho = clamp1(O[g * P + h] / Math.sqrt(D[g] * D[h]));
      const one = atOne(a, cg, ch, pm, keys[g], keys[h]);
      y = wf ? mehler(cg.cf, ch.cf, Math.max(cg.kf, ch.kf), rho, one[0]) : mehler(cg.cd, ch.cd, Math.max(cg.kd, ch.kd), rho, one[1]);
    }
    out[g * P + h] = out[h * P + g] = y;
  }
  return wf ? { mean, e2, ff: out, dm2, dd: new Float64Array(0) } : { mean, e2, ff: new Float64Array(0), dm2, dd: out };
}

function actKappa(a: ActivationFns, P: number, D: Float64Array, kappa: Float64Array, dOut: number): Float64Array {
  const out = new Float64Array(P);
  for (let g = 0; g < P; g++) {
    if (D[g] <= 0) { out[g] = kappa[g]; continue; }
    const { ratio, gamma } = activationDispersion(a, 0, Math.exp(actKey(D[g]) / KEY_RES));
    out[g] = gamma * gamma * kappa[g] + ratio / dOut;
  }
  return out;
}

function activationOf(st: Stage): ActivationFns | null {
  if (st.block === relu) return RELU;
  if (st.block === silu) return SILU;
  if (st.block === gelu) return st.params.approximate === 'tanh' ? GELU_TANH : GELU;
  return null;
}

// ------------------------------------------------------------------ stages

type StageCache = { attn?: CausalAttnCache; sw?: { A: ActPairs; q2: number } };
interface StageRun { st: Stage; input: KState; out: KState; cache: StageCache; warnings: string[]; method: Method }

function stageForward(grid: Grid, st: Stage, x: KState): StageRun {
  const { P } = grid;
  const p = st.params;
  const warnings: string[] = [];
  let method: Method = 'closed-form';
  let out: KState;
  const cache: StageCache = {};
  if (st.block === linear) {
    const gain = p.dIn * p.std * p.std, b2 = (p.biasStd ?? 0) ** 2;
    const D = new Float64Array(P), O = new Float64Array(P * P);
    for (let g = 0; g < P; g++) D[g] = gain * x.D[g] + b2;
    for (let k = 0; k < P * P; k++) O[k] = gain * x.O[k] + b2;
    const kappa = new Float64Array(P);
    for (let g = 0; g < P; g++) kappa[g] = x.kappa[g] + 2 / p.dOut;
    out = { D, O, m: new Float64Array(P), kappa, nu: filled(P, 1 / p.dOut) };
    if (x.f2 && x.fa && !b2) { // + a Wishart sample of dOut features (formulas/linear.ts)
      const f2 = new Float64Array(P * P), fa = new Float64Array(P * P);
      for (let g = 0; g < P; g++) for (let h = 0; h < P; h++) { const i = g * P + h, rho = rhoOf(D, O, P, g, h); f2[i] = x.f2[i] + (2 * rho * rho) / p.dOut; fa[i] = x.fa[i] + (2 * rho) / p.dOut; }
      out.f2 = f2; out.fa = fa;
    }
  } else if (st.block === dropout) {
    const q = 1 - p.p;
    const D = scaled(x.D, 1 / q);
    const kappa = new Float64Array(P);
    for (let g = 0; g < P; g++) kappa[g] = p.d ? x.kappa[g] + (3 * p.p) / (q * p.d) : x.kappa[g];
    let nu: Float64Array | null = x.nu;
    if (x.nu && p.d) {
      nu = new Float64Array(P);
      for (let g = 0; g < P; g++) {
        const v = x.D[g] - x.m[g] ** 2, v2 = D[g] - x.m[g] ** 2;
        nu[g] = v2 > 0 ? (x.nu[g] * v + ((p.p / q) * x.D[g]) / p.d) / v2 : x.nu[g];
      }
    }
    out = { D, O: x.O, m: x.m, kappa, nu };
    if (x.f2 && x.fa && p.d) { // formulas/dropout.ts: Cov(B_g, B_h) kept, Cov(A, B) → (1 − p)·it + 3pρ/d
      const fa = new Float64Array(P * P);
      for (let g = 0; g < P; g++) for (let h = 0; h < P; h++) { const i = g * P + h; fa[i] = q * x.fa[i] + (3 * p.p * rhoOf(x.D, x.O, P, g, h)) / p.d; }
      out.f2 = x.f2; out.fa = fa;
    }
  } else if (st.block === layernorm || st.block === rmsnorm) {
    out = normForward(grid, st, x);
    // the norm's domain (formulas/layernorm.ts normOutsideDomain), at the position where it is worst
    const eps = p.eps ?? 1e-5, ln = st.block === layernorm;
    let vMin = Infinity;
    for (let g = 0; g < P; g++) vMin = Math.min(vMin, ln ? Math.max(x.D[g] - x.m[g] ** 2, 0) * (1 - 1 / p.d) : x.D[g]);
    if (normOutsideDomain(eps, vMin)) warnings.push(`${st.label}: ${normDomainWarning(ln ? 'layernorm' : 'rmsnorm', eps, vMin)}`);
  } else if (st.block === attention) {
    const ap = p as AttentionParams;
    const r = causalAttentionForward(ap, grid, x);
    cache.attn = r.cache;
    method = 'quadrature';
    if (r.maxV > 50) warnings.push(`${st.label}: attention saturated: logit variance (1−r)σ_s² = ${logitVarText(r.maxV)} (softmax close to one-hot)`);
    // per-token dispersion (formulas/attention.ts, per row): the visible values' own κ (+ 2/d for
    // W_v) reduced by the averaging, the row-to-row fluctuation of Σ_j P_ij², and 2/d for W_o
    const d = ap.dModel, kappa = new Float64Array(P), wish = new Float64Array(P);
    let kc = 0;
    for (let g = 0; g < P; g++) {
      const kin = (kc + grid.w[g] * grid.fo[g] * x.kappa[g]) / grid.n[g] + 2 / d;
      kc += grid.w[g] * x.kappa[g];
      const S2 = r.cache.K2[g] / grid.n[g], rv = r.share[g];
      const sh = rv + (1 - rv) * S2;
      const rowK = sh > 0 ? ((1 - rv) ** 2 * Math.max(r.q4[g] - S2 * S2, 0)) / (sh * sh * ap.heads) : 0; // per head: 1/h (formulas/attention.ts outKappa)
      wish[g] = kin * sh + 2 / d; // the Wishart-sampled part (formulas/attention.ts outKappaWishart)
      kappa[g] = wish[g] + rowK;
    }
    out = { D: r.out.D, O: r.out.O, m: new Float64Array(P), kappa, nu: filled(P, 1 / d) };
    if (x.f2 && x.fa) { const f = gaussPair(P, wish, r.out.D, r.out.O); out.f2 = f.f2; out.fa = f.fa; }
  } else if (st.block === swiglu) {
    method = 'quadrature';
    const q2 = keep2(p); // (1 − p)(1 − p_h): dropout after W2 and after the product
    const ga = p.dModel * p.std1 * p.std1, gb = p.dModel * p.std3 * p.std3, g2 = p.dFF * p.std2 * p.std2;
    // (the scaled O is read by actPairs only, never kept: scratch)
    const A = actPairs(SILU, P, scaled(x.D, ga), scaledScratch(x.O, ga), 'f');
    const D = new Float64Array(P), O = new Float64Array(P * P), kappa = new Float64Array(P);
    for (let g = 0; g < P; g++) {
      D[g] = (g2 * A.e2[g] * gb * x.D[g]) / q2;
      for (let h = 0; h < P; h++) O[g * P + h] = g2 * A.ff[g * P + h] * gb * x.O[g * P + h];
      const dsp = activationDispersion(SILU, 0, Math.exp(actKey(ga * x.D[g]) / KEY_RES));
      kappa[g] = (dsp.gamma + 1) ** 2 * x.kappa[g] + (3 * (dsp.ratio + 1) - 1) / p.dFF + 2 / p.dModel;
    }
    cache.sw = { A, q2 };
    out = { D, O, m: new Float64Array(P), kappa, nu: filled(P, 1 / p.dModel) };
    if (x.f2 && x.fa) { const f = gaussPair(P, kappa, D, O); out.f2 = f.f2; out.fa = f.fa; }
  } else {
    const a = activationOf(st);
    if (!a) throw new Error(`causal fold: unsupported block ${st.block.doc.name}`);
    if (a !== RELU) method = 'quadrature';
    if (a === SILU) {
      let sMax = 0;
      for (let g = 0; g < P; g++) sMax = Math.max(sMax, x.D[g] - x.m[g] ** 2);
      if (sMax > SILU_S_MAX) warnings.push(`${st.label}: ${siluDomainWarning(sMax)}`);
    }
    const A = actPairs(a, P, x.D, x.O, 'f');
    const D = new Float64Array(P);
    for (let g = 0; g < P; g++) D[g] = A.e2[g];
    out = { D, O: A.ff, m: A.mean, kappa: p.d ? actKappa(a, P, x.D, x.kappa, p.d) : x.kappa, nu: null };
    if (x.f2 && x.fa) { const f = gaussPair(P, out.kappa, D, A.ff); out.f2 = f.f2; out.fa = f.fa; }
  }
  return { st, input: x, out, cache, warnings, method };
}

function stageBackward(grid: Grid, run: StageRun, g: GState): GState {
  const { P } = grid;
  const { st, input: x, cache } = run;
  const p = st.params;
  if (st.block === linear) {
    const s = p.dOut * p.std * p.std;
    return { D: scaled(g.D, s), O: scaled(g.O, s), a: null, b: null };
  }
  if (st.block === dropout) return { D: scaled(g.D, 1 / (1 - p.p)), O: g.O, a: null, b: null };
  if (st.block === layernorm || st.block === rmsnorm) return normBackward(grid, st, x, g);
  if (st.block === attention) {
    const r = causalAttentionBackward(grid, cache.attn!, g);
    return { D: r.D, O: r.O, a: null, b: null };
  }
  if (st.block === swiglu) {
    const { A, q2 } = cache.sw!, H = x;
    const ga = p.dModel * p.std1 * p.std1, gb = p.dModel * p.std3 * p.std3;
    const s2 = p.dModel * p.std2 * p.std2, w1 = p.dFF * p.std1 * p.std1, w3 = p.dFF * p.std3 * p.std3;
    const Ad = actPairs(SILU, P, scaled(x.D, ga), scaledScratch(x.O, ga), 'd');
    const D = new Float64Array(P), O = new Float64Array(P * P);
    for (let a = 0; a < P; a++) {
      D[a] = ((s2 * g.D[a]) / q2) * (w1 * gb * H.D[a] * A.dm2[a] + w3 * A.e2[a]);
      for (let b = 0; b < P; b++) { const k = a * P + b; O[k] = s2 * g.O[k] * (w1 * gb * H.O[k] * Ad.dd[k] + w3 * A.ff[k]); }
    }
    return { D, O, a: null, b: null };
  }
  const A = actPairs(activationOf(st)!, P, x.D, x.O, 'd');
  const D = new Float64Array(P), O = new Float64Array(P * P);
  for (let a = 0; a < P; a++) D[a] = g.D[a] * A.dm2[a];
  for (let k = 0; k < P * P; k++) O[k] = g.O[k] * A.dd[k];
  return { D, O, a: null, b: null };
}

// ------------------------------------------------------------------ norms

function normForward(grid: Grid, st: Stage, x: KState): KState {
  const { P } = grid;
  const eps = st.params.eps ?? 1e-5;
  const D = new Float64Array(P), O = new Float64Array(P * P);
  if (st.block === layernorm) {
    const C = new Float64Array(P);
    for (let g = 0; g < P; g++) {
      C[g] = Math.max(x.D[g] - x.m[g] ** 2, 0);
      const c = C[g] * (1 - (x.nu ? x.nu[g] : 1 / st.params.d));
      D[g] = c / (c + eps);
    }
    // the output's pooled correlation is the input's mean per-pair cosine: ρ plus its finite-width
    // gap (formulas/layernorm.ts); none left after the norm
    for (let g = 0; g < P; g++) for (let h = g; h < P; h++) {
      const den = Math.sqrt(C[g] * C[h]);
      const rho = den > 0 ? clamp1((x.O[g * P + h] - x.m[g] * x.m[h]) / den) : 0;
      O[g * P + h] = O[h * P + g] = clamp1(rho + statePairGap(x, P, g, h, rho)) * Math.sqrt(D[g] * D[h]);
    }
    const out: KState = { D, O, m: new Float64Array(P), kappa: new Float64Array(P), nu: new Float64Array(P) };
    if (x.f2 && x.fa) { out.f2 = new Float64Array(P * P); out.fa = new Float64Array(P * P); }
    return out;
  }
  const m = new Float64Array(P), sc = new Float64Array(P);
  for (let g = 0; g < P; g++) { sc[g] = 1 / Math.sqrt(x.D[g] + eps); D[g] = x.D[g] * sc[g] * sc[g]; m[g] = x.m[g] * sc[g]; }
  // (rhoOf and statePairGap inlined: the pair's √(D_g D_h) computed once, the row's loads hoisted)
  const xD = x.D, xO = x.O, xm = x.m, xk = x.kappa, f2 = x.f2, fa = x.fa;
  for (let g = 0; g < P; g++) {
    const dg = xD[g], sg = sc[g], kg = xk[g], row = g * P, gapG = f2 !== undefined && fa !== undefined && xm[g] === 0;
    for (let h = 0; h < P; h++) {
      const i = row + h, den = Math.sqrt(dg * xD[h]);
      const rho = den > 0 ? clamp1(xO[i] / den) : 0;
      const gap = gapG && xm[h] === 0 ? pairGap(rho, 0.5 * (kg + xk[h]), f2[i], fa![i]) : 0;
      O[i] = (rho + gap) * den * sg * sc[h];
    }
  }
  const out: KState = { D, O, m, kappa: new Float64Array(P), nu: x.nu };
  if (x.f2 && x.fa) { out.f2 = new Float64Array(P * P); out.fa = new Float64Array(P * P); }
  return out;
}

function normBackward(grid: Grid, st: Stage, x: KState, g: GState, excess?: Float64Array): GState {
  const { P } = grid;
  const d = st.params.d, eps = st.params.eps ?? 1e-5;
  // excess ε_i of a Post-LN sub-layer with a homogeneous branch (postHomogeneous): the removed
  // output direction carries ε_i more backward gain than an isotropic one; (d − 2) (LayerNorm) or
  // (d − 1) (RMSNorm) directions survive the projection
  const keep = normKeep(st), ex = (i: number) => (excess ? excessFactor(excess[i], keep) : 1);
  const f = new Float64Array(P), D = new Float64Array(P), O = new Float64Array(P * P);
  if (st.block === layernorm) {
    const C = new Float64Array(P);
    for (let i = 0; i < P; i++) {
      C[i] = Math.max(x.D[i] - x.m[i] ** 2, 0);
      const nu = x.nu ? x.nu[i] : 1 / d;
      const kc = Math.min(x.kappa[i] / (1 - nu), 0.9);
      const ai = g.a ? g.a[i] : 1, bi = g.b ? g.b[i] : 1;
      f[i] = ((1 - (ai + bi) / d) / (1 - kc) / (C[i] * (1 - nu) + eps)) * ex(i);
      D[i] = g.D[i] * f[i];
    }
    for (let i = 0; i < P; i++) for (let j = i; j < P; j++) {
      const den = Math.sqrt(C[i] * C[j]);
      const rho = den > 0 ? clamp1((x.O[i * P + j] - x.m[i] * x.m[j]) / den) : 0;
      // the pair's alignments enter at O(1/d) linearly (layernormGradR: r_g(1 − ā(1 − ρ²)/d)), so the
      // pair takes their mean; isotropic (no a, b) the plain (d − 3 + ρ²)/(d − 2)
      const a2 = g.a ? (g.a[i] + g.a[j]) / 2 : 1, b2 = g.b ? (g.b[i] + g.b[j]) / 2 : 1;
      const y = layernormGradR(g.O[i * P + j], rho, d, a2, b2) * Math.sqrt(f[i] * f[j]);
      O[i * P + j] = O[j * P + i] = y;
    }
    return { D, O, a: new Float64Array(P), b: new Float64Array(P) };
  }
  for (let i = 0; i < P; i++) {
    const kq = Math.min(x.kappa[i], 0.9), ai = g.a ? g.a[i] : 1;
    f[i] = ((1 - ai / d) / (1 - kq) / (x.D[i] + eps)) * ex(i);
    D[i] = g.D[i] * f[i];
  }
  for (let i = 0; i < P; i++) for (let j = i; j < P; j++) {
    const den = Math.sqrt(x.D[i] * x.D[j]);
    const rho = den > 0 ? clamp1(x.O[i * P + j] / den) : 0;
    const y = (g.O[i * P + j] * (d - 2 + rho * rho)) / (d - 1) * Math.sqrt(f[i] * f[j]);
    O[i * P + j] = O[j * P + i] = y;
  }
  return { D, O, a: new Float64Array(P), b: g.b };
}

/** The directions a norm's backward projection leaves (LayerNorm d − 2, RMSNorm d − 1): the excess's keep. */
function normKeep(st: Stage): number {
  return st.block === layernorm ? st.params.d - 2 : st.params.d - 1;
}

/** normBackward's excess applied to a gradient it returned without one: D_i·e_i, O_ij·√(e_i e_j),
 * e_i = excessFactor(ε_i, keep) (the same factors, multiplied in afterwards). */
function withExcess(grid: Grid, st: Stage, g0: GState, excess: Float64Array): GState {
  const { P } = grid, keep = normKeep(st), e = new Float64Array(P), D = new Float64Array(P), O = new Float64Array(P * P);
  for (let i = 0; i < P; i++) { e[i] = excessFactor(excess[i], keep); D[i] = g0.D[i] * e[i]; }
  for (let i = 0; i < P; i++) for (let j = i; j < P; j++) O[i * P + j] = O[j * P + i] = g0.O[i * P + j] * Math.sqrt(e[i] * e[j]);
  return { D, O, a: g0.a, b: g0.b };
}

// ------------------------------------------------------------------ residual

function residualForwardK(grid: Grid, l: number, b: number, x: KState, f: KState, d: number): KState {
  const { P } = grid;
  const l2 = l * l, b2 = b * b;
  const D = new Float64Array(P), O = new Float64Array(P * P), m = new Float64Array(P), kappa = new Float64Array(P);
  for (let k = 0; k < P * P; k++) O[k] = l2 * x.O[k] + b2 * f.O[k];
  let nu: Float64Array | null = x.nu && f.nu ? new Float64Array(P) : null;
  for (let g = 0; g < P; g++) {
    D[g] = l2 * x.D[g] + b2 * f.D[g];
    m[g] = l * x.m[g] + b * f.m[g];
    const qx = x.D[g], qf = f.D[g], qz = l2 * qx + b2 * qf;
    kappa[g] = qz > 0 ? (l2 * l2 * qx * qx * x.kappa[g] + b2 * b2 * qf * qf * f.kappa[g] + (4 * l2 * b2 * qx * qf) / d) / (qz * qz) : 0;
    if (nu) {
      const vx = x.D[g] - x.m[g] ** 2, vf = f.D[g] - f.m[g] ** 2, v = l2 * vx + b2 * vf;
      nu[g] = v > 0 ? (l2 * x.nu![g] * vx + b2 * f.nu![g] * vf) / v : 0;
    }
  }
  if (nu && nu.some((z) => !Number.isFinite(z))) nu = null;
  const out: KState = { D, O, m, kappa, nu };
  if (x.f2 && x.fa && f.f2 && f.fa) { // formulas/residual.ts, per pair of positions (weights w_g by position)
    const f2 = new Float64Array(P * P), fa = new Float64Array(P * P), xa = x.fa, ba = f.fa, x2 = x.f2, b2f = f.f2;
    // per position: the weights w_x, w_F, their square roots, and 1/√q of both parts
    const wx = new Float64Array(P), wf = new Float64Array(P), sx = new Float64Array(P), sf = new Float64Array(P), ix = new Float64Array(P), jf = new Float64Array(P);
    for (let g = 0; g < P; g++) {
      const qz = D[g]; wx[g] = qz > 0 ? (l2 * x.D[g]) / qz : 0; wf[g] = qz > 0 ? (b2 * f.D[g]) / qz : 0;
      sx[g] = Math.sqrt(wx[g]); sf[g] = Math.sqrt(wf[g]);
      ix[g] = x.D[g] > 0 ? 1 / Math.sqrt(x.D[g]) : 0; jf[g] = f.D[g] > 0 ? 1 / Math.sqrt(f.D[g]) : 0;
    }
    // (the row's per-position values read once per row: the same products in the same order)
    const xO = x.O, fO = f.O;
    for (let g = 0; g < P; g++) {
      const wxg = wx[g], wfg = wf[g], sxg = sx[g], sfg = sf[g], ixg = ix[g], jfg = jf[g], row = g * P;
      for (let h = 0; h < P; h++) {
        const i = row + h, wxh = wx[h], wfh = wf[h], sxh = sx[h], sfh = sf[h];
        const rx = clamp1(xO[i] * ixg * ix[h]), rf = clamp1(fO[i] * jfg * jf[h]);
        f2[i] = wxg * wxh * x2[i] + wfg * wfh * b2f[i] + (4 * sxg * sfg * sxh * sfh * rx * rf) / d;
        // Cov(A_gh, B_g) and Cov(A_gh, B_h), averaged
        const og = sxg * sxh * wxg * xa[i] + sfg * sfh * wfg * ba[i] + (2 * sxg * sfg * (sxg * sfh * rf + sfg * sxh * rx)) / d;
        const oh = sxh * sxg * wxh * xa[i] + sfh * sfg * wfh * ba[i] + (2 * sxh * sfh * (sxh * sfg * rf + sfh * sxg * rx)) / d;
        fa[i] = 0.5 * (og + oh);
      }
    }
    out.f2 = f2; out.fa = fa;
  }
  return out;
}

/**
 * A homogeneous attention sub-layer's post-norm excess, moved onto the branch image (derived here,
 * the position-resolved form of src/engine.ts excessShared). The direction the norm removes has an
 * excess gain only through the branch βW_oᵀW_vᵀ (the skip is the identity: isotropic), so the loss
 * normBackward takes from every position's gradient in proportion (f_i, per row) belongs to the
 * branch image: the skip path keeps the unscaled gradient gz0, and the branch image gives up the
 * skip path's share of the loss as well, spread over positions as the branch image itself (the
 * removed components' image c_j = Σ_{i≥j} a_i/(i + 1) has the profile of the gradient's): its D and
 * O scale by κ = 1 − λ²Σ w_i(gz0_i − gz_i) / (β²Σ w_i gb_i). The total is the per-row fold's, and so
 * is the alignment (computed before the move). One position (seqLen 1) has nothing to move: skip and
 * branch act on the same vector there, and the excess is the whole map's (test/causal-postln).
 */
function excessOnBranch(grid: Grid, l: number, b: number, gz0: GState, gz: GState, gb: GState): GState {
  const { P, w } = grid, l2 = l * l, b2 = b * b;
  let loss = 0, br = 0;
  for (let i = 0; i < P; i++) { loss += w[i] * (gz0.D[i] - gz.D[i]); br += w[i] * gb.D[i]; }
  const k = br > 0 ? Math.max(1 - (l2 * loss) / (b2 * br), 0) : 1;
  if (k === 1) return gb;
  const D = new Float64Array(P), O = new Float64Array(P * P);
  for (let i = 0; i < P; i++) D[i] = gb.D[i] * k;
  for (let q = 0; q < P * P; q++) O[q] = gb.O[q] * k;
  return { D, O, a: gb.a, b: gb.b };
}

function residualBackwardK(grid: Grid, l: number, b: number, gz: GState, gb: GState, x: KState, f: KState, align?: Float64Array): GState {
  const { P } = grid;
  const l2 = l * l, b2 = b * b;
  const D = new Float64Array(P), O = new Float64Array(P * P), a = new Float64Array(P), bb = new Float64Array(P);
  for (let k = 0; k < P * P; k++) O[k] = l2 * gz.O[k] + b2 * gb.O[k];
  for (let i = 0; i < P; i++) {
    const gs = l2 * gz.D[i], gf = b2 * gb.D[i], v = gs + gf;
    D[i] = v;
    const sx = l2 * (x.D[i] - x.m[i] ** 2), sf = b2 * (f.D[i] - f.m[i] ** 2);
    const cos2 = sx + sf > 0 ? sx / (sx + sf) : 1;
    const az = gz.a ? gz.a[i] : 1, af = gb.a ? gb.a[i] : 1, bz = gz.b ? gz.b[i] : 1, bf = gb.b ? gb.b[i] : 1;
    a[i] = align ? align[i] : v > 0 ? (gs * (cos2 * az + (1 - cos2)) + gf * af) / v : 1;
    bb[i] = v > 0 ? (gs * bz + gf * bf) / v : 1;
  }
  return { D, O, a, b: bb };
}

// ------------------------------------------------------------------ Post-LN with a homogeneous branch

/**
 * Post-LN sub-layer z = λx + βF(x), y = Norm(z), with a branch that is positively homogeneous of
 * degree 1 in its own token (ReLU FFN, linear maps, dropout; attention's value path for the
 * query's own token). Derived here; two O(1/d) facts the generic norm/residual maps miss, and which
 * compound over 2N norms (the deep causal Post-LN stack, where the gradient sits at position 0):
 *
 * 1. Euler: J_F x = F(x), so the input gradient g_x = (λI + βJ_F)ᵀ g_z has g_x·x = g_z·z = 0
 *    (the norm's backward leaves g_z ⊥ z). The alignment of g_x with x (which the norm below
 *    projects out) is therefore NOT the independent mix of skip and branch parts that
 *    residualBackwardK assumes; it is only what breaks homogeneity at the token:
 *      FFN (ReLU, dropout): a = 0 exactly;
 *      attention, row i: z_i = h_i + e_i with h_i = λx_i + βP_ii x_i W_vW_o (homogeneous in x_i)
 *      and e_i = β Σ_{j≠i} P_ij x_j W_vW_o (other tokens): the own row gives g_{z_i}·h_i =
 *      −g_{z_i}·e_i, of variance D_z (s_e − (s_e + c_he)²/s_z) (the part of e_i ⊥ z_i; s per
 *      entry, c_he = Cov(h, e)); the logit-scale defect Δ_i = 2Σ_j P_ij(s_ij − s̄_i)v_j W_o (Q/K
 *      paths: logits are quadratic in x) adds D_z·4 dσ_o² J_i v_i pv_i (its small-logit size, J
 *      the softmax Jacobian gain, v_i the row's logit variance, pv_i the private value variance);
 *      rows k > i that read x_i add their (isotropic) gradient. a_i = that over D_x,i · (1/q_i).
 * 2. The output direction ẑ removed by the norm is not an isotropic direction for the backward
 *    map A = λI + βJ_F: z = Aᵀx, so |Aẑ|² = |AAᵀx|²/|Aᵀx|² = R exceeds the isotropic gain
 *    σ_A² = λ² + β²G_b (A's squared singular values spread). With g_y = α(C − ŷŷᵀ) + (1-part),
 *    E|g_x|² = α E[1/s²] [(d − 1)σ_A² − R] where the generic map gives α E[1/s²] (d − 2) σ_A²:
 *    a factor 1 − ε/(d − 2), ε = R/σ_A² − 1 (RMSNorm: d − 1). Per entry, with q = E x², s_F the
 *    branch output variance, s_z = λ²q + β²s_F:
 *      FFN:  R = λ⁴q + λ²β²(3s_F + G_b q) + β⁴W₄q,  G_b = (dσ₂²)(d_FFσ₁²)/2,
 *            W₄ = E|J_F F|²/|x|² = (dσ₂²)²((d_FFσ₁²)²/4 + (d_FFσ₁²)(dσ₁²)/2) + (dσ₁²)²(d_FFσ₂²)²(1/4 + 1/(2d_FF))
 *            (ReLU: Stein's E[w relu(w·x)] = σ₁²x/2 gives the coherent part, Wishart moments the rest);
 *      attention row i (value path, n_i keys, K2_i = n_i² E[P_ii²], g = dσ_v² dσ_o²):
 *            R = λ²s_z + 2λ²β² g Σ_{k≤i} H_ik/n_i² + β²(K2_i/n_i)(λ² g q + 3β² g s_F),
 *            σ_A² = λ² + β²(K2_i/n_i) g  (3 = E σ⁴ of the product of two square Gaussian maps,
 *            the Fuss–Catalan number; = 2 for one map).
 *    Both ε are omitted where a dropout mask sits in the branch (ε not derived there).
 * Check (test/causal-postln.test.ts): one token, d = 64, λ = β = 1, σ = 1/√d: float64 Monte-Carlo
 * of one sub-layer (20 000 draws) gives per-layer growth 1.0242 ± 0.0017; the fold had 1.0326.
 */
/** Switches of the fold. postHomogeneous: the Post-LN homogeneous-branch terms above (on). The
 * scalar engine (src/engine.ts, homogForward) reads the same switch: it has the same terms for
 * non-causal rows (the algebra shared through formulas/residual.ts), plus the shared-mode mix that a
 * gradient correlated across tokens needs; at seqLen 1 both folds agree (test/causal.test.ts). */
/** keepRunsPairs: the fold keeps every sub-layer's forward run for the backward pass while
 * sub-layers × P² stays at or below it (4000 layers at P = 32: ~75 MB more than the inputs alone per
 * 1000 layers); deeper stacks keep the sub-layers' inputs only and recompute each run going backward
 * (the same numbers, about twice the time). */
export const causalFoldOptions = { postHomogeneous: true, excessOnBranch: true, keepRunsPairs: 8000 * 32 * 32 };

interface PostHomog { excess?: Float64Array; align: (gz: GState, gb: GState) => Float64Array }

function postHomogeneous(grid: Grid, sl: Plan['sublayers'][number], t: SubRun, x: KState, d: number): PostHomog | null {
  const { P } = grid;
  const st = t.stages;
  const H3 = new Float64Array(5);
  const kind = homogBranch(sl.stages, H3);
  if (kind === 0) return null;
  const l2 = sl.skip * sl.skip, b2 = sl.branch * sl.branch;
  const hasDrop = st.some((r) => r.st.block === dropout);
  const F = t.branchOut;
  if (kind === HOM_ATTN) {
    const c = st[0].cache.attn!;
    const { w, fo, n } = grid;
    const excess = hasDrop || c.pa > 0 ? undefined : new Float64Array(P);
    const su = new Float64Array(P), own = new Float64Array(P), q = new Float64Array(P);
    for (let g = 0; g < P; g++) {
      q[g] = x.D[g];
      let rowH = c.HD[g] + (w[g] * fo[g] - 1) * c.HO[g * P + g];
      for (let h = 0; h < g; h++) rowH += w[h] * c.HO[g * P + h];
      attnHomog(l2, b2, c.vGain, c.oGain, c.qk, q[g], rowH, c.K2[g], n[g], st[0].out.D[g], c.pk[g], c.J[g], c.pa, excess !== undefined, H3);
      if (excess) excess[g] = H3[0];
      su[g] = H3[1]; own[g] = H3[2];
    }
    return {
      excess,
      align: (gz, gb) => {
        const a = new Float64Array(P);
        for (let g = 0; g < P; g++) a[g] = homogAlign(l2, b2, gz.D[g], gb.D[g], q[g], su[g], own[g]);
        return a;
      },
    };
  }
  // HOM_FFN: ε where homogBranch derived the gains (no dropout, two bias-free linears)
  const Gb = H3[0], W4 = H3[1];
  let excess: Float64Array | undefined;
  if (Gb === Gb) {
    excess = new Float64Array(P);
    for (let g = 0; g < P; g++) excess[g] = ffnPostExcess(l2, b2, x.D[g], F.D[g], Gb, W4);
  }
  return { excess, align: () => new Float64Array(P) };
}

// ------------------------------------------------------------------ the fold

interface SubRun { stages: StageRun[]; branchOut: KState; added: KState; post?: StageRun; out: KState; warnings: string[]; method: Method }

function subForward(grid: Grid, sl: Plan['sublayers'][number], x: KState, d: number): SubRun {
  const stages: StageRun[] = [];
  const warnings: string[] = [];
  let method: Method = 'closed-form';
  let cur = x;
  for (const st of sl.stages) {
    const r = stageForward(grid, st, cur);
    stages.push(r); warnings.push(...r.warnings);
    if (r.method !== 'closed-form') method = r.method;
    cur = r.out;
  }
  const added = residualForwardK(grid, sl.skip, sl.branch, x, cur, d);
  let out = added, post: StageRun | undefined;
  if (sl.postNorm) { post = stageForward(grid, sl.postNorm, added); out = post.out; warnings.push(...post.warnings); }
  return { stages, branchOut: cur, added, post, out, warnings, method };
}

const HUGE = 1e300;
const bad = (x: number) => !Number.isFinite(x) || Math.abs(x) > HUGE;
const badState = (s: Kernel) => { for (let i = 0; i < s.D.length; i++) if (bad(s.D[i])) return true; return false; };

export function inputState(grid: Grid, input: Moments, d: number): KState {
  const { P } = grid;
  const q0 = input.var + input.mean * input.mean;
  const kappa0 = q0 > 0 ? (2 * (input.var ** 2 + 2 * input.mean ** 2 * input.var)) / (d * q0 * q0) : 0;
  const O = new Float64Array(P * P).fill(input.r * input.var + input.mean * input.mean);
  // pair fluctuations of d iid Gaussian features (formulas/_core.ts iidPairFluct)
  const [k2, ka] = iidPairFluct(input.mean, input.var, input.r, d);
  const f2 = filled(P * P, k2), fa = filled(P * P, ka);
  return { D: filled(P, q0), O, m: filled(P, input.mean), kappa: filled(P, kappa0), nu: filled(P, 1 / d), f2, fa };
}

/** True when the plan holds the default (ours) causal attention: the causal fold applies. */
export function causalFoldApplies(plan: Plan): boolean {
  return plan.cfg.causal && plan.sublayers.length > 0 && plan.sublayers[0].stages.some((s) => s.block === attention);
}

export function runCausalPlan(plan: Plan, opts: PredictOptions = {}, maxP?: number): Prediction {
  const { cfg } = plan;
  const grid = makeGrid(cfg.seqLen, maxP);
  const d = cfg.dModel;
  const warnings: string[] = [];
  const seen = new Set<string>();
  const warnOnce = (key: string, msg: string) => { if (!seen.has(key)) { seen.add(key); warnings.push(msg); } };
  let method: Method = 'closed-form';
  const keep = Boolean(opts.trace), keepRuns = keep || plan.sublayers.length * grid.P * grid.P <= causalFoldOptions.keepRunsPairs;
  let x = inputState(grid, cfg.input, d);
  const B = opts.batch;
  const gm = (x: GState) => gradMoments(grid, x, d, B);
  // entry 0: the input as given, its r the mean per-pair cosine (the iid input's finite-width gap)
  const entries: Moments[] = [{ ...cfg.input, ...pick(forwardMoments(grid, x, d)), r: clamp1(cfg.input.r + statePairGap(x, grid.P, 0, 0, cfg.input.r)) }];
  const inputs: KState[] = [];
  const runs: SubRun[] = [];
  let fwdExplode: number | undefined, fwdWhy: string | undefined;
  for (const sl of plan.sublayers) {
    const t = subForward(grid, sl, x, d);
    if (t.method !== 'closed-form') method = t.method;
    for (const w of t.warnings) warnOnce(w.replace(/[-\d.e+]+/g, '#'), `layer ${sl.layer} ${sl.kind}: ${w} (first at this layer)`);
    // the backward pass reads every sub-layer's forward run (stage inputs, attention and SwiGLU
    // caches, branch output, post-norm input): kept here rather than recomputed from the sub-layer's
    // input. Without a trace, the pair fluctuations f2/fa are dropped from the kept states once the
    // forward has used them (only normForward and forwardMoments read them; the backward never does),
    // and so is the branch output's kernel O (dropPairFluct)
    // (beyond causalFoldOptions.keepRunsPairs only the inputs are kept, with their fluctuations, and
    // the backward recomputes each run from its input)
    if (keepRuns) runs.push(t);
    inputs.push(x);
    if (keepRuns && !keep) dropPairFluct(x, t);
    x = t.out;
    if (sl.kind === 'ffn') entries.push(forwardMoments(grid, x, d, B));
    if (badState(x) || badState(t.added)) { fwdExplode = sl.layer; break; }
    // an entry whose r overflowed before its variance passed 1e300 (the kernel's products of two
    // variances): reported as the explosion there, not as a lone null r
    if (sl.kind === 'ffn') { const e = entries[entries.length - 1]; if (!(Number.isFinite(e.mean) && Number.isFinite(e.var) && Number.isFinite(e.r))) { fwdExplode = sl.layer; fwdWhy = `its token correlation overflows: products of two positions' second moments pass the double range, variance ${Number.isFinite(e.var) ? e.var.toExponential(1) : 'beyond 1e300'}`; break; } }
  }
  let finalRun: StageRun | undefined;
  if (fwdExplode === undefined && plan.finalNorm) {
    finalRun = stageForward(grid, plan.finalNorm, x);
    for (const w of finalRun.warnings) warnOnce(w.replace(/[-\d.e+]+/g, '#'), `after layer ${plan.cfg.layers}: ${w}`);
    entries[entries.length - 1] = forwardMoments(grid, finalRun.out, d, B);
  }
  const N = cfg.layers;
  if (fwdExplode !== undefined) return forwardExplosion(N, packEntries(entries, N), fwdExplode, warnings, method, fwdWhy);
  // ---- backward
  const P = grid.P;
  const grads: GradMoments[] = new Array(N + 1);
  let g: GState = { D: filled(P, 1), O: new Float64Array(P * P), a: filled(P, 1), b: filled(P, 1) };
  grads[N] = { var: 1, r: 0, align: 1, alignMean: 1 };
  const gTrace: { sub: { gradOut: GradMoments; gradIn?: GradMoments; post?: [GradMoments, GradMoments]; stages: [GradMoments, GradMoments][] }[]; final?: [GradMoments, GradMoments] } = { sub: [] };
  if (finalRun) {
    const gi = normBackward(grid, plan.finalNorm!, finalRun.input, g);
    if (keep) gTrace.final = [gm(g), gm(gi)];
    g = gi;
  }
  let bwdExplode: number | undefined;
  for (let i = plan.sublayers.length - 1; i >= 0; i--) {
    const sl = plan.sublayers[i], t = keepRuns ? runs[i] : subForward(grid, sl, inputs[i], d);
    const rec = keep ? { gradOut: gm(g), stages: [] as [GradMoments, GradMoments][], post: undefined as [GradMoments, GradMoments] | undefined, gradIn: undefined as GradMoments | undefined } : null;
    let gz = g;
    const hom = t.post && causalFoldOptions.postHomogeneous ? postHomogeneous(grid, sl, t, inputs[i], d) : null;
    // attention: the post-norm's excess is the branch image's loss alone (excessOnBranch), which
    // needs the norm's gradient without it (gz0) beside the one with it
    const move = t.post && hom?.excess && sl.kind === 'attn' && grid.P > 1 && causalFoldOptions.excessOnBranch;
    let gz0: GState | null = null;
    if (t.post) {
      if (move) { gz0 = normBackward(grid, sl.postNorm!, t.post.input, g); gz = withExcess(grid, sl.postNorm!, gz0, hom!.excess!); }
      else gz = normBackward(grid, sl.postNorm!, t.post.input, g, hom?.excess);
      if (rec) rec.post = [gm(g), gm(gz)];
    }
    let gb = gz;
    const sg: [GradMoments, GradMoments][] = new Array(t.stages.length);
    for (let k = t.stages.length - 1; k >= 0; k--) {
      const gi = stageBackward(grid, t.stages[k], gb);
      if (rec) sg[k] = [gm(gb), gm(gi)];
      gb = gi;
    }
    const align = hom?.align(gz, gb);
    if (gz0) { gb = excessOnBranch(grid, sl.skip, sl.branch, gz0, gz, gb); gz = gz0; }
    g = residualBackwardK(grid, sl.skip, sl.branch, gz, gb, inputs[i], t.branchOut, align);
    if (rec) { rec.stages = sg; rec.gradIn = gm(g); gTrace.sub[i] = rec; }
    if (sl.kind === 'attn') grads[sl.layer - 1] = gradMoments(grid, g, d, B);
    if (bwdExplode === undefined && badState(g)) { bwdExplode = sl.layer; }
  }
  if (bwdExplode !== undefined) {
    // a position's state can pass 1e300 while the position-averaged entry written from it stays
    // finite: name the layer above the highest unreported entry, as the plain fold does ("gradients
    // below it are not reported")
    let top = -1;
    for (let l = 0; l < grads.length; l++) if (!(Math.abs(grads[l].var) <= 1e300)) top = l;
    if (top >= 0) bwdExplode = top + 1;
  }
  const pred = assemble(packEntries(entries, N), packGrads(grads), bwdExplode, warnings, method);
  if (keep) pred.trace = toTrace(grid, d, plan, runs, inputs, gTrace, finalRun);
  return pred;
}

/** Drops f2/fa from a sub-layer's input and from every state of its run but its output (the next
 * sub-layer's input, whose fluctuations its norm reads), and the branch output's O. */
function dropPairFluct(x: KState, t: SubRun): void {
  const drop = (s: KState) => { if (s !== t.out && s.f2) { s.f2 = undefined; s.fa = undefined; } };
  drop(x);
  for (const r of t.stages) { drop(r.input); drop(r.out); }
  drop(t.added);
  if (t.post) drop(t.post.input);
  // the branch output's kernel O (residualBackwardK and postHomogeneous read its D and m only)
  if (t.branchOut !== t.out && t.stages.length > 0 && t.branchOut !== t.stages[0].input) t.branchOut.O = NO_PAIRS;
}
/** the stand-in for a kept state's dropped pair kernel */
const NO_PAIRS = new Float64Array(0);

function pick(m: Moments): Partial<Moments> { return { kappa: m.kappa, nu: m.nu }; }

/** The trace of the fold with position-averaged moments at every stage (for --trace and the TUI). */
function toTrace(grid: Grid, d: number, plan: Plan, runs: SubRun[], inputs: KState[], gt: { sub: { gradOut: GradMoments; gradIn?: GradMoments; post?: [GradMoments, GradMoments]; stages: [GradMoments, GradMoments][] }[]; final?: [GradMoments, GradMoments] }, finalRun?: StageRun): Prediction['trace'] {
  const mom = (s: KState) => forwardMoments(grid, s, d);
  const st = (r: StageRun, gg?: [GradMoments, GradMoments]): StageTrace => ({
    label: r.st.label, block: r.st.block.doc.name, params: r.st.params, input: mom(r.input),
    fwd: { out: mom(r.out), method: r.method, warnings: r.warnings, cache: null }, gradOut: gg?.[0], gradIn: gg?.[1],
  });
  const sublayers: SubTrace[] = runs.map((t, i) => {
    const sl = plan.sublayers[i], gg = gt.sub[i];
    return {
      layer: sl.layer, kind: sl.kind, input: mom(inputs[i]), branch: t.stages.map((r, k) => st(r, gg?.stages[k])), branchOut: mom(t.branchOut), added: mom(t.added),
      post: t.post ? st(t.post, gg?.post) : undefined, out: mom(t.out), gradOut: gg?.gradOut, gradIn: gg?.gradIn,
    };
  });
  return { sublayers, finalNorm: finalRun ? st(finalRun, gt.final) : undefined };
}
