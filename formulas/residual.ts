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
 * alignments left out). */
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
