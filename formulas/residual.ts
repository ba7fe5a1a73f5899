/**
 * Residual add y = λ·x + β·F(x) where the branch F ends in a zero-mean random linear map (so its
 * output is uncorrelated with the skip in expectation over the weights, also across tokens).
 * Source: DSLM §residual / DeepNet; cross terms vanish exactly in expectation (derived here).
 *   mean λμ + βμ_F, Var = λ²σ² + β²σ_F², Cov = λ² rσ² + β² r_F σ_F².
 * Backward: dx = λ g + β J_Fᵀ g; E[gᵀ J_F g] = 0 for the same reason, so
 *   Var = λ² σ_g² + β² σ_{g,F}², Cov = λ² r_g σ_g² + β² r_{g,F} σ_{g,F}²,
 * where (σ_{g,F}², r_{g,F}) is the gradient the branch returns to its input.
 * Component form: `residual {skip, branch, branchMean?, branchVar, branchR, branchGradGain?, branchGradR?}`
 * with the branch output moments and the branch backward gain G_b = σ_{g,F}²/σ_g² given directly.
 */
import { defineBlock, GW, NO_WARNINGS, putGrad, putMoments, readGrad, R_K2, R_KA, readMoments, RW, setF, setG, setM, uncentredR } from './_core.js';
import type { GradMoments, Moments } from '../src/types.js';
import type { Stage } from './_chain.js';
import { attention, type AttentionParams } from './attention.js';
import { dropout } from './dropout.js';
import { linear, type LinearParams } from './linear.js';
import { relu, reluArcCos } from './relu.js';

const E = {
  mean: 'l*mu + b*muF',
  var: 'l^2*s + b^2*sF',
  r: '(l^2*r*s + b^2*rF*sF)/(l^2*s + b^2*sF)',
  gradVar: 'g*(l^2 + b^2*G)',
  gradR: '(l^2*rg + b^2*G*rgF)/(l^2 + b^2*G)',
};

/**
 * Per-token dispersion of z = λx + βF (d features, x and F independent per feature):
 *   q_z = λ²q_x + β²q_F + 2λβ(x·F)/d, Var((x·F)/d) = q_x q_F/d, so
 *   κ_z = (λ⁴q_x²κ_x + β⁴q_F²κ_F + 4λ²β²q_x q_F/d)/(λ²q_x + β²q_F)²   (q the mean squares).
 * A Post-LN norm therefore sees κ ≈ 4β²q_F/d per layer — far below the 2/d of an iid input.
 */
export function residualForward(l: number, b: number, x: Moments, f: Moments, d?: number): Moments {
  putMoments(RS, 0, x); putMoments(RS, RW, f);
  residualFwdInto(l, b, RS, 0, RW, 2 * RW, d);
  return readMoments(RS, 2 * RW);
}
const RS = new Float64Array(3 * RW);

/** residualForward over records: skip input at S[xi…], branch output at S[fi…], sum to S[o…]
 * (unknown κ/ν: NaN). */
export function residualFwdInto(l: number, b: number, S: Float64Array, xi: number, fi: number, o: number, d?: number): void {
  const xm = S[xi], xv = S[xi + 1], fm = S[fi], fv = S[fi + 1], xk = S[xi + 3], fk = S[fi + 3];
  const v = l * l * xv + b * b * fv;
  const c = l * l * S[xi + 2] * xv + b * b * S[fi + 2] * fv;
  const nu = v > 0 ? (l * l * S[xi + 4] * xv + b * b * S[fi + 4] * fv) / v : NaN;
  let kappa = NaN, k2 = NaN, ka = NaN;
  if (d && xk === xk && fk === fk) {
    const l2 = l * l, b2 = b * b, qx = xv + xm * xm, qf = fv + fm * fm, qz = l2 * qx + b2 * qf;
    kappa = qz > 0 ? (l2 * l2 * qx * qx * xk + b2 * b2 * qf * qf * fk + (4 * l2 * b2 * qx * qf) / d) / (qz * qz) : 0;
    // pair fluctuations (cosGap), derived here: with w_x, w_F the mean-square shares, the two parts'
    // own fluctuations add with w² and the cross terms x_i·F_j (mean 0: F ends in a zero-mean random
    // map; variance q_x q_F/d per pair, Cov(X_ii, X_jj) = ρ_xρ_F/d, Cov(X_ij, X_ii) = ρ_F/d,
    // Cov(X_ji, X_ii) = ρ_x/d) add Cov(B_i, B_j) += 4w_x w_F ρ_xρ_F/d and Cov(A, B) += 2w_x w_F(ρ_x + ρ_F)/d
    // — two iid Gaussian parts give back the iid form at the sum's ρ
    const x2 = S[xi + R_K2], xa = S[xi + R_KA], f2 = S[fi + R_K2], fa = S[fi + R_KA];
    if (qz > 0 && x2 === x2 && xa === xa && f2 === f2 && fa === fa) {
      const wx = (l2 * qx) / qz, wf = (b2 * qf) / qz, rx = uncentredR(xm, xv, S[xi + 2]), rf = uncentredR(fm, fv, S[fi + 2]);
      k2 = wx * wx * x2 + wf * wf * f2 + (4 * wx * wf * rx * rf) / d;
      ka = wx * wx * xa + wf * wf * fa + (2 * wx * wf * (rx + rf)) / d;
    }
  }
  setM(S, o, l * xm + b * fm, v, v > 0 ? c / v : 0, kappa, nu);
  setF(S, o, k2, ka);
}

/**
 * dx = λ g + β J_Fᵀ g. Variances add (cross term zero in expectation). Alignment of dx with the
 * skip input's direction x̂ = cosθ ẑ + sinθ û (cos²θ = λ²σ_x²/σ_z²): the skip part keeps its
 * alignment a_z along ẑ and is isotropic (1) along û; the branch part brings its own a_F
 * (0 when the branch starts with a norm, 1 otherwise). With the all-ones direction the skip part
 * keeps b_z. Without forward moments (component use) the alignments are left out.
 */
export function residualBackward(l: number, b: number, g: GradMoments, gBranch: GradMoments, x?: Moments, f?: Moments): GradMoments {
  putGrad(RG, 0, g); putGrad(RG, GW, gBranch);
  if (x && f) { putMoments(RS, 0, x); putMoments(RS, RW, f); }
  residualBwdInto(l, b, RG, 0, GW, 2 * GW, x && f ? RS : null, 0, RW);
  return readGrad(RG, 2 * GW);
}
const RG = new Float64Array(3 * GW);

/** residualBackward over records: upstream at G[gi…], the branch's input gradient at G[gbi…],
 * result to G[go…] (go may be gi); S[xi…], S[fi…] the skip input and branch output (S null:
 * alignments left out). A Post-LN sub-layer with a homogeneous branch replaces the alignment with
 * the skip input's direction afterwards (homogAlign: the skip and branch parts are not independent,
 * Euler: g_x·x = g_z·z = 0). */
export function residualBwdInto(l: number, b: number, G: Float64Array, gi: number, gbi: number, go: number, S: Float64Array | null, xi: number, fi: number): void {
  const gv = G[gi], gr = G[gi + 1], ga = G[gi + 2], gam = G[gi + 3];
  const bv = G[gbi], br = G[gbi + 1], ba = G[gbi + 2], bam = G[gbi + 3];
  const gs = l * l * gv, gb = b * b * bv;
  const v = gs + gb;
  const c = l * l * gr * gv + b * b * br * bv;
  let align = NaN, alignMean = NaN;
  if (S && v > 0) {
    const sx = l * l * S[xi + 1], sf = b * b * S[fi + 1];
    const cos2 = sx + sf > 0 ? sx / (sx + sf) : 1;
    align = (gs * (cos2 * (ga === ga ? ga : 1) + (1 - cos2)) + gb * (ba === ba ? ba : 1)) / v;
    alignMean = (gs * (gam === gam ? gam : 1) + gb * (bam === bam ? bam : 1)) / v;
  }
  setG(G, go, v, v > 0 ? c / v : 0, align, alignMean);
}

export interface ResidualParams {
  skip: number; branch: number; branchMean?: number; branchVar: number; branchR: number;
  branchGradGain?: number; branchGradR?: number;
}

export const residual = defineBlock<ResidualParams, null>({
  params: [
    { name: 'skip', kind: 'number', min: 0, doc: 'skip multiplier λ' },
    { name: 'branch', kind: 'number', min: 0, doc: 'branch multiplier β' },
    { name: 'branchMean', kind: 'number', optional: true, default: 0, doc: 'branch output mean' },
    { name: 'branchVar', kind: 'number', min: 0, doc: 'branch output variance' },
    { name: 'branchR', kind: 'number', min: -1, max: 1, doc: 'branch output token correlation' },
    { name: 'branchGradGain', kind: 'number', min: 0, optional: true, default: 1, doc: 'branch backward gain G_b (gradient variance it returns / receives)' },
    { name: 'branchGradR', kind: 'number', min: -1, max: 1, optional: true, doc: 'gradient correlation the branch returns (default: upstream r_g)' },
  ],
  doc: {
    name: 'residual',
    title: 'Residual add λ·x + β·F(x)',
    source: 'DSLM / DeepNet residual scaling; exact vanishing of skip–branch cross terms derived here',
    assumptions: ['the branch ends in a zero-mean random linear map independent of the skip path'],
    domain: 'exact in expectation',
    method: 'closed-form',
    symbols: { mu: 'skip mean', s: 'skip variance', r: 'skip token correlation', l: 'λ (skip)', b: 'β (branch)', muF: 'branch mean', sF: 'branch variance', rF: 'branch token correlation', g: 'upstream gradient variance', rg: 'upstream gradient correlation', G: 'branch backward gain', rgF: 'branch gradient correlation' },
    forward: { mean: [{ expr: E.mean }], var: [{ expr: E.var }], r: [{ expr: E.r }] },
    backward: { gradVar: [{ expr: E.gradVar }], gradR: [{ expr: E.gradR }] },
  },
  forward(p, x) {
    const out = residualForward(p.skip, p.branch, x, { mean: p.branchMean ?? 0, var: p.branchVar, r: p.branchR });
    return { out, method: 'closed-form', warnings: NO_WARNINGS, cache: null };
  },
  backward(p, _x, _f, g) {
    const G = p.branchGradGain ?? 1;
    return residualBackward(p.skip, p.branch, g, { var: g.var * G, r: p.branchGradR ?? g.r });
  },
});

// ---------------------------------------------------------------- Post-LN with a homogeneous branch
//
// A Post-LN sub-layer z = λx + βF(x), y = Norm(z), whose branch is positively homogeneous of degree
// 1 in its own token (ReLU FFN, linear maps, dropout; attention's value path for the query's own
// token). Derived in src/causal.ts (postHomogeneous); the algebra below is shared by the causal fold
// (per position, n_i = i + 1 keys) and the scalar engine (src/engine.ts: every row has n = L keys,
// q, s_F the per-token mean squares, ΣH_ik = q + (L − 1)(rσ² + μ²)). Per entry, q = E x² (input),
// s_F = E F² (branch output), s_z = λ²q + β²s_F:
//  excess ε = R/(s_z σ_A²) − 1 of the output direction's backward gain over an isotropic direction
//    (the norm's backward then keeps a factor 1 − ε/(d − 2), LayerNorm, or 1 − ε/(d − 1), RMSNorm);
//  the alignment of the input gradient with the input (Euler: 0 for the FFN; attention: homogAlign).

/** A Post-LN sub-layer's branch that is degree-1 homogeneous in its token: attention with V/O
 * followed only by dropouts. */
export const HOM_ATTN = 1;
/** ... or linears, a ReLU and dropouts. */
export const HOM_FFN = 2;

/** Classify a branch (HOM_ATTN, HOM_FFN, or 0: not homogeneous) for both folds. For HOM_FFN without
 * dropout and with two bias-free linears, its G_b and W₄ (ffnHomogGains) into gains[0], gains[1];
 * NaN there otherwise (ε not derived: the alignment terms only). */
export function homogBranch(stages: readonly Stage[], gains: Float64Array): number {
  gains[0] = NaN; gains[1] = NaN;
  if (stages.length === 0) return 0;
  const rest = (k: number) => stages.slice(k).every((s) => s.block === dropout);
  if (stages[0].block === attention && (stages[0].params as AttentionParams).value !== false && rest(1)) return HOM_ATTN;
  if (!stages.every((s) => s.block === linear || s.block === relu || s.block === dropout) || !stages.some((s) => s.block === relu)) return 0;
  const lin = stages.filter((s) => s.block === linear).map((s) => s.params as LinearParams);
  if (!stages.some((s) => s.block === dropout) && lin.length === 2 && !lin.some((p) => p.biasStd)) ffnHomogGains(lin[0].dIn, lin[0].dOut, lin[0].std, lin[1].dOut, lin[1].std, gains);
  return HOM_FFN;
}

/** W_1 (dIn → dFF, σ₁), ReLU, W_2 (dFF → dOut, σ₂), no bias: the branch's backward gain
 * G_b = (d_outσ₂²)(d_FFσ₁²)/2 and W₄ = E|J_F F|²/|x|² (Stein for the coherent part, Wishart moments
 * for the rest). out[0] = G_b, out[1] = W₄. */
export function ffnHomogGains(dIn: number, dFF: number, std1: number, dOut: number, std2: number, out: Float64Array): void {
  const g1f = dIn * std1 * std1, g1b = dFF * std1 * std1, g2f = dFF * std2 * std2, g2b = dOut * std2 * std2;
  out[0] = (g2b * g1b) / 2;
  out[1] = g2b * g2b * ((g1b * g1b) / 4 + (g1b * g1f) / 2) + g1f * g1f * g2f * g2f * (0.25 + 1 / (2 * dFF));
}

/** ReLU FFN: ε = R/(s_z σ_A²) − 1 (≥ 0), R = λ⁴q + λ²β²(3s_F + G_b q) + β⁴W₄q, σ_A² = λ² + β²G_b. */
export function ffnPostExcess(l2: number, b2: number, q: number, sF: number, Gb: number, W4: number): number {
  const sz = l2 * q + b2 * sF, sA = l2 + b2 * Gb;
  if (!(sz > 0)) return 0;
  const R = l2 * l2 * q + l2 * b2 * (3 * sF + Gb * q) + b2 * b2 * W4 * q;
  return Math.max(R / (sz * sA) - 1, 0);
}

/**
 * Attention row with n keys (value path; vo = (dσ_v²)(dσ_o²), K2 = n²E[P_ii²], rowH = Σ_k H_ik
 * over the row's keys, q = H_ii, s_F the row's output mean square, pk the private key variance,
 * qk = (dσ_q²)(dσ_k²), J the softmax Jacobian gain, pa the attention dropout):
 *  out[0] = ε (no dropout): R = λ²s_z + 2λ²β² vo rowH/n² + β²(K2/n)(λ² vo q + 3β² vo s_F),
 *           σ_A² = λ² + β²(K2/n)vo (3: Fuss–Catalan, E σ⁴ of the product of two square Gaussian maps);
 *  out[1] = su: variance (per entry, × D_z) of g_z·h_i = −g_z·e_i, the part of the other tokens'
 *           share e_i orthogonal to z_i, plus the logit-scale defect 4 dσ_o² J v pv (v = qk q pk
 *           the logit variance, pv = dσ_v² pk);
 *  out[2] = own: the share of the branch's input gradient that comes back through the row's own
 *           softmax weight (P_ii, and the Q path), the rest coming from the rows that read x_i;
 *  out[3] = R/s_z, out[4] = σ_A² (NaN without ε), for the scalar engine's shared-mode mix.
 */
export function attnHomog(l2: number, b2: number, vGain: number, oGain: number, qk: number, q: number, rowH: number, K2: number, n: number, sF: number, pk: number, J: number, pa: number, withExcess: boolean, out: Float64Array): void {
  const vo = vGain * oGain;
  const sz = l2 * q + b2 * sF;
  out[0] = 0; out[3] = NaN; out[4] = NaN;
  if (withExcess && sz > 0) {
    const sA = l2 + (b2 * K2 * vo) / n;
    const R = l2 * sz + (2 * l2 * b2 * vo * rowH) / (n * n) + ((b2 * K2) / n) * (l2 * vo * q + 3 * b2 * vo * sF);
    out[0] = Math.max(R / (sz * sA) - 1, 0);
    out[3] = R / sz; out[4] = sA;
  }
  // own token's share of the row (P_ii x_i W_vW_o) and its covariance with the other tokens' share
  const so = (vo * K2 * q) / (n * n);
  const cOE = n >= 2 ? ((vo * (1 - K2 / n)) / (n * (n - 1))) * (rowH - q) : 0;
  const se = Math.max(sF - so - 2 * cOE, 0);
  let su = sz > 0 ? Math.max(b2 * se - (b2 * (se + cOE)) ** 2 / sz, 0) : 0;
  const pv = vGain * pk, lv = qk * q * pk;
  su += b2 * 4 * oGain * J * lv * pv;
  out[1] = su;
  out[2] = (vo * K2) / (n * n) + (oGain * qk * pk * pv * J) / (1 - pa);
}

/** The input gradient's alignment with the input of a Post-LN attention sub-layer (attnHomog's su,
 * own): (D_z su/q + β²(D_b − D_z own))/D_x, D_x = λ²D_z + β²D_b (D_z the residual sum's gradient
 * variance, D_b the branch's input gradient). */
export function homogAlign(l2: number, b2: number, Dz: number, Db: number, q: number, su: number, own: number): number {
  const Dx = l2 * Dz + b2 * Db;
  const other = Math.max(Db - Dz * own, 0);
  return Dx > 0 && q > 0 ? ((Dz * su) / q + b2 * other) / Dx : 0;
}

// ---------------------------------------------------------------- seed-to-seed spread (Post-LN, collapsed)
//
// Derived here. Below the top few layers of a collapsed Post-LN stack (r → 1: every token is the
// same unit-variance x, attention uniform) the input gradient is, per sub-layer, the single-token
// chain x ↦ y = Norm(λx + βBx): g_x = (λ + βJᵀ) g_y / σ_z, σ_z² = |λx + βBx|²/d (attention
// B = J = W_vW_o; ReLU FFN J = W₂ᵀ D W₁ᵀ, D the ReLU mask, Bx = Jx by Euler). By Euler the upstream
// g_y ⊥ y (g_x·x = g_z·z = 0 one sub-layer up), and the norm's projection then removes nothing, so
// the gain is |g_x|²/|g_y|² = N/M with N = |(λ + βJᵀ)u|² (u = g_y/|g_y|) and M = |(λ + βB)x̂|² (x̂ = x/|x|).
// u depends only on y and the weights above, and those are rotation invariant about y: given y, u is
// uniform on the sphere of y⊥ and its gain above is independent of its direction, so (i) the gains of
// different sub-layers are independent and log-variances add over depth; (ii) to O(1/d) u may be
// taken uniform on the whole sphere (the constraint u ⊥ Ax̂ moves N by O(1/d) with an O(1/d)
// fluctuation: O(1/d²) in the variance). Each of N, M is λ² + 2λβ(bilinear, O(d^-½)) + β²(norm²),
// Var log = Var/E² to O(1/d):
//  attention (g_v = dσ_v², g_o = dσ_o², vo = g_v g_o, T = λ² + β²vo): uᵀBu = (W_vᵀu)·(W_o u) has
//    variance vo/d, |Bᵀu|² = vo·χ²_d/d·χ²_d/d relative variance 4/d, uncorrelated (odd moments):
//    Var log N = Var log M = 4β²vo/(dT); Cov(log N, log M) = O(1/d²) (two independent directions).
//  ReLU FFN (d → m → d, S = dσ₂²·mσ₁²/2 = G_b, both the forward gain s_F/q and the backward one,
//    T = λ² + β²S): x̂·F = (W₂x̂)·relu(h) has variance S/d; |F|² = S(1 + ε_r)(1 + ε_χ) with ε_r the
//    relative fluctuation of Σ relu(h_j)² (5/m: E relu⁴/(E relu²)² − 1 = 5) and ε_χ of the χ²_d
//    (2/d); backward, with h = W₁ᵀx̂ and W₁ = x̂hᵀ + W₁⊥, Jᵀu = x̂(relu(h)·t) + W₁⊥Dt (t = W₂u), whose
//    bilinear part u·W₁⊥Dt has variance S/d and |W₁⊥Dt|² = S(1 + ε_D)(1 + ε_χ'), ε_D the relative
//    fluctuation of Σ D_j t_j² (5/m). The two share the mask D: Cov(ε_r, ε_D) = 1/m (per unit
//    E[D h²t²]/(E[Dh²]E[Dt²]) − 1 = 1); everything else is odd or O(1/d²). So
//    Var log N = Var log M = (4λ²β²S/d + β⁴S²(5/m + 2/d))/T², Cov(log N, log M) = β⁴S²/(mT²).
//    At λ = β = 1, d = m/4, S = ½: Var log(N/M) = 22/(9d) (attention 4/d).
// Checked against a float64 Monte-Carlo of the exact sub-layer (LayerNorm centring and projection
// included; numpy, 20 000 / 20 000 / 4 000 draws): d·Var log gain attention 4.08 ± 0.04 / 4.03 ± 0.04
// / 3.93 ± 0.09 at d = 32 / 64 / 256 (formula 4), FFN 2.57 ± 0.03 / 2.48 ± 0.03 / 2.40 ± 0.05
// (22/9 = 2.44); the log gain is Gaussian (|skew|, |excess kurtosis| < 0.1). test/postln-spread.test.ts
// repeats it at d = 64. Stack: the log-gains of different sub-layers add. Single-token stacks
// (seqLen 1, TF.js harness, d = 64, 48 layers, 96 seeds): Var(log-gain sum)/Σ Var = 0.99, per-layer
// d·Var 6.3 – 6.7 (6.44); a float64 single-token chain, 500 draws: 5.33 ± 0.34 vs 4.89 at layer 0.
// With 32 tokens (harness, d = 64, 48 layers, 96 seeds) the per-layer increments of log gradVar match
// the per-sub-layer terms (d·Var per 8-layer block 4.5 / 6.7 / 6.7 / 6.4 / 6.3 / 4.1, these formulas
// weighted by the gradient's token structure 4.5 / 6.4 / 6.4 / 6.4 / 6.3 / 4.0) but their sum does not
// add up to the total (Var of the sum / Σ Var = 1.51 ± 0.20, bootstrap): near the top the private
// modes dominate the measured gradient while the shared mode keeps its own gains in its norm, which
// surface once it takes over (postSpreadInStack: modes). That gives 4.69 at layer 0 against the
// measured 6.6 ± 0.9; the typical value (geometric mean over seeds) matches within its error at every
// layer (layer 0: 0.038 vs 0.036 ×/÷ 1.3). d = 256, batch 4, 32 seeds: log-variance 0.60 / 0.44 / 0.23
// / 0.11 at layers 0 / 16 / 32 / 40 vs 0.69 ± 0.13 / 0.33 ± 0.06 / 0.21 ± 0.04 / 0.08 ± 0.02, typical
// 0.117 vs 0.117 ×/÷ 1.16 at layer 0.
// Not derived, the batch at d = 64: with 48 layers and batch 4 the typical value is ×2 too high at
// layer 0 (0.098 vs 0.046 ×/÷ 1.3) and the log-variance 2.63 vs 3.17 ± 0.65; a float64 single-token
// chain of 4 sequences shows the same sign (3.07 ± 0.20 vs 2.69). Not the alignment of the sequences'
// gradient directions alone: their mean squared overlap (chain, d = 64) rises from 1/d to 0.16 at
// mid-depth and falls again towards the input, moving only ≈ 0.3 of log-variance into the shared
// part. At d = 256 (depth/d small) the batch model matches (above).

/** Collapsed Post-LN sub-layer spread (above): out[0] Var log M (forward normalisation), out[1]
 * Var log N (backward gain of the shared mode), out[2] Cov(log N, log M), out[3] T = E N (per unit). */
export function attnPostSpread(l2: number, b2: number, vo: number, d: number, out: Float64Array): void {
  const T = l2 + b2 * vo;
  out[0] = out[1] = T > 0 ? (4 * b2 * vo) / (d * T) : 0;
  out[2] = 0; out[3] = T;
}
export function ffnPostSpread(l2: number, b2: number, S: number, d: number, m: number, out: Float64Array): void {
  const T = l2 + b2 * S;
  out[0] = out[1] = T > 0 ? ((4 * l2 * b2 * S) / d + b2 * b2 * S * S * (5 / m + 2 / d)) / (T * T) : 0;
  out[2] = T > 0 ? (b2 * b2 * S * S) / (m * T * T) : 0; out[3] = T;
}

/**
 * One Post-LN sub-layer's share of Var log gradVar inside a stack, from its collapsed spread
 * (attnPostSpread / ffnPostSpread: vM, vN, C, T; n tokens, ρ the input's token correlation). In a
 * collapsed forward the gradient splits into modes that no sub-layer mixes: the shared (token-mean)
 * mode, which the branch sees through λ + βJᵀ, and n − 1 private modes (token differences), which the
 * FFN sees through the same Jᵀ (independent directions: their average fluctuates 1/(n−1) as much)
 * and attention only through λ (no fluctuation). Each mode's log-gains add over depth; the forward
 * normalisation 1/σ_z² is common to all modes. So at an entry whose gradient puts the share w of its
 * variance in the shared mode, Var log gradVar = Σ forward + w²Σ shared + (1 − w)²Σ private over the
 * sub-layers above it (to first order in each mode's log-variance; the shared mode's gains count in
 * full even where the private modes still dominate: they are kept in its norm until it takes over).
 * out[0] the shared-mode part vN, out[1] the private-mode part (FFN vN/(n−1), attention 0), out[2]
 * the forward part vM(ρ² + (1−ρ²)/n) − 2Cρ² (exact at ρ = 1; towards ρ = 0, independent tokens, an
 * interpolation, not derived: the first few layers of a stack, whose input is not yet collapsed).
 */
export function postSpreadInStack(attn: boolean, vM: number, vN: number, C: number, n: number, rho: number, out: Float64Array): void {
  const p = Math.min(Math.max(rho, 0), 1), f = n > 1 ? p * p + (1 - p * p) / n : 1;
  out[0] = vN;
  out[1] = attn || n < 2 ? 0 : vN / (n - 1);
  out[2] = Math.max(vM * f - (attn ? 0 : 2 * C * p * p), 0);
}

/**
 * Sequences of a batch share the weights but not their inputs: their backward parts correlate as the
 * squared overlap o² = E(u_b·u_c)² of their unit gradients (batchAlignStep: 1/d at the top, growing
 * at O(depth/d)), their forward parts correlate as the square of the overlap ρ_x of their (collapsed) tokens: exact for the
 * bilinear and Wishart terms (Cov(aᵀBa, bᵀBb) = (a·b)²/d), the ρ_x² rule for the ReLU mask terms.
 * ρ_x is 0 for independent zero-mean inputs; attention (linear in the token once collapsed) keeps
 * it, a ReLU FFN raises it through its arc-cosine kernel, every relu(h) carrying the same mean
 * E relu along the same W₂ᵀ1: ρ_x ← (λ²ρ_x + β²S k(ρ_x))/(λ² + β²S), k(ρ) = (√(1−ρ²) + (π − acos ρ)ρ)/π
 * (T = λ² + β²S). Monte-Carlo of the single-token chain, d = 64: mean ρ_x 0.35 / 0.54 / 0.74 / 0.86
 * after 4 / 8 / 16 / 32 layers (this rule: 0.34 / 0.52 / 0.72 / 0.86).
 */
export function ffnCrossOverlap(l2: number, T: number, rho: number): number {
  const p = Math.min(Math.max(rho, -1), 1);
  return T > 0 ? (l2 * p + (T - l2) * reluArcCos(p)) / T : p;
}

/**
 * The squared overlap o² = E(u_b·u_c)² of two sequences' unit gradients (the shared mode's, collapsed
 * stack) below one Post-LN sub-layer, from o² above it. Derived here. Their loss gradients are
 * independent: o² = 1/d at the top (two independent directions). A sub-layer's backward map M is
 * shared by the batch where its Jacobian is (attention's λ + βW_oᵀW_vᵀ: always; the FFN's
 * λ + βW₁ᵀDW₂ᵀ: where the ReLU masks D of the two tokens agree) and rotation invariant, so MᵀM ∝ I + Δ
 * with Δ a symmetric invariant matrix whose entries have variance σ², σ² = Var(uᵀΔu)/2 = vN/2 (vN the
 * sub-layer's Var log N: attnPostSpread / ffnPostSpread). For unit u, v with u·v = c, to second
 * order in Δ: E[(uᵀMᵀMv)²/(|Mu|²|Mv|²)] = c² + σ²(1 − c²)(1 − 2c²) — the shared map's anisotropy
 * pulls independent directions together. The FFN's masks agree on the fraction 1 − θ/π of units
 * where both are on (θ = acos ρ_x, ρ_x the two tokens' overlap: ffnCrossOverlap), so
 * E[(M_bu)·(M_cv)] = c(λ² + β²S(1 − θ/π)) against E|M_bu|² = T = λ² + β²S: the overlap shrinks by
 * f = 1 − (β²S/T)θ/π, o² by f². Closure: E c⁴ terms taken at (E c²)² (not derived). Against the
 * float64 chain (scripts/postln-batch-chain.py, d = 64, N = 96, B = 4, 150 seeds; measured / this
 * rule, every 6th layer from the top): 0.129 / 0.120, 0.182 / 0.170, 0.226 / 0.195, 0.254 / 0.202,
 * 0.251 / 0.185, 0.223 / 0.169, 0.189 / 0.149, 0.155 / 0.125, 0.097 / 0.094 (the peak ~20 % low).
 * The between-sequence covariance of a sub-layer's backward log-gain is o² times its variance
 * (measured cov/var 0.15 / 0.24 / 0.28 / 0.24 / 0.18 where o² is 0.12 / 0.19 / 0.27 / 0.24 / 0.22).
 * attn: attention (f = 1); l2 = λ², T the sub-layer's T (out[3] of its spread).
 */
export function batchAlignStep(c2: number, vN: number, attn: boolean, l2: number, T: number, rhoX: number): number {
  let f = 1;
  if (!attn && T > 0) f = 1 - ((T - l2) / T) * (Math.acos(Math.min(Math.max(rhoX, -1), 1)) / Math.PI);
  const s2 = vN / 2, c = Math.min(Math.max(c2, 0), 1);
  return Math.min(Math.max(c * f * f + s2 * (1 - c) * (1 - 2 * c), 0), 1);
}

/**
 * The log of a per-model gradVar averaged over B sequences, from the part A of its log-variance that
 * they share and the part I each has on its own (Gaussian, independent): log gradVar_B = shared +
 * log((1/B)Σ_b e^{X_b}), X_b iid N(−I/2, I) (mean 1). out[0] = E log((1/B)Σ e^{X_b}) (≤ 0; −I/2 at
 * B = 1, 0 at B = ∞), out[1] = its variance (I at B = 1, 0 at B = ∞): computed, not approximated —
 * the density of log Σ on a grid of GRID points over ±6√I, sums of 2^k terms by self-convolution
 * (log-add-exp of independent pairs, linear deposit), B from its binary digits. Fenton–Wilkinson's
 * log(1 + (e^I − 1)/B), the lognormal with the same first two moments, overstates the variance at
 * large I (Monte-Carlo, B = 4: I = 1 → 0.357 vs 0.318, I = 3.5 → 2.2 vs 1.35); it is used only where
 * (e^I − 1)/B < 0.02 (the sum then nearly Gaussian: exact to O(((e^I − 1)/B)²)). The linear deposit
 * adds ≈ h²/6 (h = 12√I/159) of variance per doubling: ≲ 1% of the result at B = 4, ≲ 4% at B = 16.
 */
/** logMeanMoments at every I of a list (nondecreasing or not): exact at up to NODES values of I
 * spread as (k/NODES)² over [0, max I], the ratios out/I interpolated linearly in between (both
 * smooth in I, −1/(2B) and 1/B at I = 0). out[2j], out[2j + 1] for Is[j]. */
export function logMeanMomentsAt(Is: Float64Array, B: number, out: Float64Array): void {
  let top = 0;
  for (let j = 0; j < Is.length; j++) if (Is[j] > top) top = Is[j];
  const b = Math.max(Math.round(B), 1);
  if (!(top > 0) || b === 1 || !(B < Infinity)) { for (let j = 0; j < Is.length; j++) logMeanMoments(Is[j], B, M2), out[2 * j] = M2[0], out[2 * j + 1] = M2[1]; return; }
  const t = new Float64Array(NODES + 1), rm = new Float64Array(NODES + 1), rv = new Float64Array(NODES + 1);
  rm[0] = -1 / (2 * b); rv[0] = 1 / b;
  for (let k = 1; k <= NODES; k++) { t[k] = top * (k / NODES) ** 2; logMeanMoments(t[k], b, M2); rm[k] = M2[0] / t[k]; rv[k] = M2[1] / t[k]; }
  for (let j = 0; j < Is.length; j++) {
    const I = Is[j];
    if (!(I > 0)) { out[2 * j] = out[2 * j + 1] = 0; continue; }
    let k = Math.min(Math.max(Math.ceil(Math.sqrt(I / top) * NODES), 1), NODES);
    const f = (I - t[k - 1]) / (t[k] - t[k - 1]);
    out[2 * j] = I * (rm[k - 1] + f * (rm[k] - rm[k - 1])); out[2 * j + 1] = I * (rv[k - 1] + f * (rv[k] - rv[k - 1]));
  }
}
const NODES = 6, M2 = new Float64Array(2);

export function logMeanMoments(I: number, B: number, out: Float64Array): void {
  if (!(I > 0) || !(B < Infinity)) { out[0] = 0; out[1] = 0; return; }
  const b = Math.max(Math.round(B), 1);
  if (b === 1) { out[0] = -I / 2; out[1] = I; return; }
  const cv2 = Math.expm1(I) / b;
  if (cv2 < 0.02) { const v = Math.log1p(cv2); out[0] = -v / 2; out[1] = v; return; }
  const sd = Math.sqrt(I), lo = -6 * sd, hi = 6 * sd + Math.log(b), h = (hi - lo) / (GRID - 1);
  // X_b ~ N(0, I) on the grid (the shift −I/2 − log B is added at the end)
  let pw: Float64Array = new Float64Array(GRID), acc: Float64Array | null = null;
  for (let j = 0; j < GRID; j++) { const y = lo + j * h; pw[j] = y <= 6 * sd ? Math.exp((-y * y) / (2 * I)) : 0; }
  normalise(pw);
  for (let k = b; ; ) {
    if (k & 1) acc = acc ? lseConvolve(acc, pw, h) : pw.slice();
    k >>= 1;
    if (k === 0) break;
    pw = lseConvolve(pw, pw, h);
  }
  let m = 0, q = 0;
  for (let j = 0; j < GRID; j++) { const y = lo + j * h; m += acc![j] * y; q += acc![j] * y * y; }
  out[0] = m - I / 2 - Math.log(b); out[1] = Math.max(q - m * m, 0);
}
const GRID = 160;
function normalise(p: Float64Array): void {
  let s = 0;
  for (let j = 0; j < p.length; j++) s += p[j];
  for (let j = 0; j < p.length; j++) p[j] /= s;
}
/** The density of log(e^Y + e^Z), Y, Z independent on the same grid (masses deposited linearly):
 * on a uniform grid log-add-exp of nodes i, j lands at max(i, j) + log1p(e^{−|i−j|h})/h, so the
 * landing offset depends only on |i − j| (tables per call). */
function lseConvolve(p: Float64Array, q: Float64Array, h: number): Float64Array {
  const n = p.length, out = new Float64Array(n), off = new Int32Array(n), fr = new Float64Array(n);
  for (let k = 0; k < n; k++) { const t = Math.log1p(Math.exp(-k * h)) / h; off[k] = Math.floor(t); fr[k] = t - off[k]; }
  for (let i = 0; i < n; i++) {
    const pi = p[i];
    if (pi < 1e-300) continue;
    for (let j = 0; j < n; j++) {
      const w = pi * q[j];
      if (w < 1e-300) continue;
      const k = i > j ? i - j : j - i, at = (i > j ? i : j) + off[k];
      if (at >= n - 1) { out[n - 1] += w; continue; }
      const f = fr[k];
      out[at] += w * (1 - f); out[at + 1] += w * f;
    }
  }
  return out;
}
