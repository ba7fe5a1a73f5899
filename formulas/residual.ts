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
import { defineBlock, GW, NO_WARNINGS, putGrad, putMoments, readGrad, readMoments, RW, setG, setM } from './_core.js';
import type { GradMoments, Moments } from '../src/types.js';
import type { Stage } from './_chain.js';
import { attention, type AttentionParams } from './attention.js';
import { dropout } from './dropout.js';
import { linear, type LinearParams } from './linear.js';
import { relu } from './relu.js';

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
  let kappa = NaN;
  if (d && xk === xk && fk === fk) {
    const l2 = l * l, b2 = b * b, qx = xv + xm * xm, qf = fv + fm * fm, qz = l2 * qx + b2 * qf;
    kappa = qz > 0 ? (l2 * l2 * qx * qx * xk + b2 * b2 * qf * qf * fk + (4 * l2 * b2 * qx * qf) / d) / (qz * qz) : 0;
  }
  setM(S, o, l * xm + b * fm, v, v > 0 ? c / v : 0, kappa, nu);
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
