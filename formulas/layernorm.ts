/**
 * LayerNorm over d features, γ = 1, β = 0, eps (default 1e-5): y = (x − x̄)/sqrt(v + eps),
 * v the per-token biased feature variance, E[v] = σ²(1 − 1/d).
 *
 * Forward: mean 0; Var = v/(v+eps) ≈ 1. The centred token correlation is unchanged: removing the
 * per-token feature mean scales the shared (token-common) and private parts alike by (1 − 1/d),
 * so their ratio stays r. (DSLM writes Cov = r(1 − 1/d); that is the covariance against a
 * variance of 1, and compounded over many norms it drifts — derived here.)
 * Backward: dx = (I − 11ᵀ/d − yyᵀ/d) dy / sqrt(v+eps). The projection has rank d − 2, and
 * v = σ²χ²_{d−1}/d fluctuates per token, so E[1/v] = d/((d−3)σ²), not 1/E[v] (Jensen):
 * Var(dx) = σ_g² (1 − 2/d)(d−1)/(d−3)/(E[v] + eps) for an iid Gaussian input and an isotropic
 * upstream gradient. Inside a deep stack neither holds, and both O(1/d) factors compound over
 * hundreds of norms (e^{±2N/d}): the engine carries the input's per-token dispersion κ (relative
 * variance of the token's mean square; E[1/v] = 1/((1 − κ_c)E[v]), κ_c = κ d/(d−1), exact for
 * χ²) and the gradient's alignment a with the token direction and b with the all-ones direction
 * (the projection removes (a + b)/d of an aligned gradient, nothing of one already orthogonal):
 * Var(dx) = σ_g² (1 − (a+b)/d)/(1 − κ_c)/(E[v] + eps); the returned gradient has a = b = 0.
 * Likewise E[v] = σ²(1 − ν) with ν the fraction of the variance in per-token feature means: 1/d
 * for an iid input, but ≈ 0 for a Post-LN norm whose input is mostly the previous norm's output
 * (exactly zero-mean tokens) — (1 − 1/d) per norm would compound to e^{−2N/d}.
 * Forward, κ_out = 0 (every token has exactly unit mean square). Config v1's r is the mean per-pair
 * cosine; a norm's output has fixed token norms, so its pooled correlation IS its input's mean
 * cosine, which sits below the input's pooled r by a finite-width gap: r + ¾rκ + ¼rK2 − KA with
 * κ = Var B, K2 = Cov(B_i, B_j), KA = Cov(A_ij, B_i) of the pair's normalised mean squares B and dot
 * product A (delta method; formulas/_core.ts cosGap; −r(1 − r²)/(2d) for iid Gaussian features).
 * Inside a stack the engine carries the three through every block; a component's input has them
 * unknown and keeps r (derived here; the DSLM (1 − 1/d) factor is not this: it compounds without
 * the (1 − r²) and is measured to drift).
 * For two tokens tr(P_i P_j) = d − 3 + ρ², ρ = y_i·y_j/d ≈ r,
 * so r_g,in = r_g (d − 3 + r²)/(d − 2) for an isotropic gradient; one already (partly) orthogonal to
 * its own token (alignment a < 1, e.g. Post-LN by Euler's identity) loses only a(1 − r²)/d of its
 * correlation (layernormGradR below). DSLM keeps only σ_g²/σ² (derived here: the O(1/d) terms).
 */
import { compile, cosR, defineBlock, kernelBlock, NO_WARNINGS, R_WARN, setF, setG, setM } from './_core.js';

/**
 * Backward factor of a Post-LN norm whose sub-layer has a degree-1 homogeneous branch (src/causal.ts
 * postHomogeneous, formulas/residual.ts): the output direction the norm projects out carries ε more
 * backward gain than an isotropic direction, so of the `keep` directions that survive the projection
 * (d − 2 LayerNorm, d − 1 RMSNorm) the gradient keeps 1 − ε/keep. Applied by the folds to such a
 * post-norm's input gradient (src/engine.ts: ε in the norm's output record at R_C; src/causal.ts per
 * position); every other norm runs its plain kernel.
 */
export function excessFactor(e: number, keep: number): number {
  return Math.max(1 - Math.min(e, keep - 1) / keep, 0);
}

export interface NormParams { d: number; eps?: number }

const V = ['mu', 's', 'r', 'g', 'rg', 'd', 'eps'];
const E = {
  mean: '0',
  var: 's*(1-1/d)/(s*(1-1/d)+eps)',
  r: 'r',
  rState: 'r + 3/4*r*k + 1/4*r*k2 - ka',
  gradVar: 'g*(1-2/d)*((d-1)/(d-3))/(s*(1-1/d)+eps)',
  gradVarState: 'g*(1-(a+b)/d)/(1-kc)/(s*(1-nu)+eps)',
  varState: 's*(1-nu)/(s*(1-nu)+eps)',
  gradVarPost: 'g*(1-(a+b)/d)/(1-kc)/(s*(1-nu)+eps)*(1-e/(d-2))',
  gradR: 'rg*(d-3+r^2)/(d-2)',
  gradRAligned: 'rg*(d-3+r^2)*(d-2+a*(d-2+b)/(d-a))/((d-2)*(d-3+r^2+a*(d-2+b)/(d-a)*(2-r^2)))',
};
const fVar = compile(E.var, V), fGR = compile(E.gradR, V);
const fGRa = compile(E.gradRAligned, ['rg', 'r', 'd', 'a', 'b']);

/**
 * Input-gradient token correlation of a LayerNorm for an upstream gradient with token correlation
 * rg, alignment a with the token's own direction and b with the all-ones direction (NaN: unknown,
 * taken as 1), forward token correlation r. Derived here (issue 4): the gradient is a mixture of an
 * isotropic part (independent of the activations) and a part already orthogonal to its own token's
 * ŷ_i and to 1 (what a norm below or Euler's identity leaves, formulas/residual.ts), both with the
 * same token correlation (the alignment spread alike over the token-shared and private components)
 * — the model under which the engine adds alignments variance-weighted (residualBwdInto). With
 * f = a(d − 2 + b)/(d − a) the isotropic fraction (a = f·d/(d − 2 + b + f) measured against
 * |g|²/d), the projection keeps the orthogonal part's covariance (it is orthogonal to ŷ_i, and ŷ_j
 * only enters through tr(P_iP_j)) and cuts the isotropic part's as tr(P_iP_j) = d − 3 + r²:
 * r_in = r_g (d−3+r²)(d−2+f)/((d−2)(d−3+r²+f(2−r²))) = r_g (1 − a(1 − r²)/d + O(1/d²)).
 * a = b = 1 gives (d−3+r²)/(d−2) (returned by the isotropic expression itself, bit-identical);
 * a = 0 gives r_g (nothing left to remove). b enters only through f (the all-ones part is removed
 * from both tokens alike and leaves the correlation unchanged when it carries r_g).
 * Not carried: if the isotropic part holds a fraction w of the token covariance other than f (the
 * alignment concentrated in the token-shared or the private component), r_in ≈ r_g(1 − [w(2 − r²) − f]/d).
 * In situ (harness, λ/β Post-LN d = 64, N = 48, 4 seeds; r_in − r_out across each post-norm): attention
 * post-norms a = 0 measured, +0.00001 (this: 0; the isotropic factor −0.0005 per norm); FFN post-norms
 * a ≈ 0.012 (engine 0.011), −0.00007 ± 0.00003 (this −0.00001: w ≈ 0.07 > f, a shared-leaning alignment).
 */
export function layernormGradR(rg: number, r: number, d: number, a: number, b: number): number {
  const aa = a === a ? a : 1, bb = b === b ? b : 1;
  return aa === 1 && bb === 1 ? fGR(0, 0, r, 0, rg, d, 0) : fGRa(rg, r, d, aa, bb);
}
const fGVs = compile(E.gradVarState, ['s', 'g', 'd', 'eps', 'a', 'b', 'kc', 'nu']);
const fVs = compile(E.varState, ['s', 'eps', 'nu']);

export const normParams = [
  { name: 'd', kind: 'integer' as const, min: 2, doc: 'normalised width (features)' },
  { name: 'eps', kind: 'number' as const, min: 0, optional: true, default: 1e-5, doc: 'epsilon inside the square root' },
];

/** A norm's domain: eps small against the per-token variance (LayerNorm) or mean square (RMSNorm) —
 * the formulas take E[v/(v + eps)] and E[1/(v + eps)] at E[v]. Outside it (eps ≥ 0.1·v; eps = v = 0
 * is 0/0) the result carries this warning; the numbers are unchanged. */
export const NORM_EPS_SMALL = 0.1;
export function normOutsideDomain(eps: number, v: number): boolean { return !(eps < NORM_EPS_SMALL * v) && !Number.isNaN(v); }
export function normDomainWarning(name: 'layernorm' | 'rmsnorm', eps: number, v: number): string {
  const what = name === 'layernorm' ? 'per-token variance' : 'mean square';
  const f = (x: number) => (x === 0 ? '0' : !Number.isFinite(x) ? 'not finite (overflow)' : x.toPrecision(3).replace(/\.?0+(e|$)/, '$1'));
  return `${name} outside its domain (eps small against the ${what}): eps ${f(eps)} vs ${what} ${f(v)}${eps === 0 && v === 0 ? ' (0/0: the output is undefined)' : ''}`;
}

export const layernorm = kernelBlock<NormParams>({
  params: [{ ...normParams[0], min: 4 }, normParams[1]],
  doc: {
    name: 'layernorm',
    title: 'LayerNorm (γ=1, β=0)',
    source: 'DSLM LayerNorm row (forward); backward O(1/d) Jacobian terms and the unchanged centred correlation derived here',
    assumptions: ['features of a token iid given the token-shared component', 'upstream gradient independent of the normalised activations'],
    domain: 'd >= 4 (E[1/v] is infinite for d = 3); eps small against the per-token variance',
    method: 'closed-form',
    symbols: { mu: 'input mean', s: 'input variance', r: 'input token correlation (centred)', g: 'upstream gradient variance', rg: 'upstream gradient correlation', d: 'width', eps: 'epsilon', a: 'gradient alignment with the token direction (1 isotropic)', b: 'gradient alignment with the all-ones direction', kc: 'per-token dispersion of the centred variance (2/(d−1) for iid input)', nu: 'fraction of the variance in per-token feature means (1/d iid, 0 after a LayerNorm)', e: 'excess backward gain of the removed output direction (Post-LN, homogeneous branch)', k: 'input κ: relative variance of a token\'s mean square B', k2: 'input Cov(B_i, B_j) of two tokens', ka: 'input Cov(A_ij, B_i), A the pair\'s normalised dot product' },
    forward: { mean: [{ expr: E.mean }], var: [{ expr: E.var, when: 'iid Gaussian input (component)' }, { expr: E.varState, when: 'inside a stack (engine state nu)' }], r: [{ expr: E.r, when: 'input pair fluctuations unknown (component)' }, { expr: E.rState, when: 'inside a stack: the input\'s mean per-pair cosine (engine state κ, K2, KA; formulas/_core.ts cosGap)' }] },
    backward: { gradVar: [{ expr: E.gradVar, when: 'iid Gaussian input, isotropic gradient (component)' }, { expr: E.gradVarState, when: 'inside a stack (engine state κ, nu, a, b)' }, { expr: E.gradVarPost, when: 'post-norm of a Post-LN sub-layer with a homogeneous branch (ReLU FFN, attention; excess e: formulas/residual.ts)' }], gradR: [{ expr: E.gradR, when: 'isotropic upstream gradient (a = b = 1; component)' }, { expr: E.gradRAligned, when: 'inside a stack: gradient a mixture of an isotropic part and a part orthogonal to its own token and to 1 (engine state a, b), alike in token correlation' }] },
  },
  warn: (p, x) => [normDomainWarning('layernorm', p.eps ?? 1e-5, x.var * (1 - 1 / p.d))],
  kernel: {
    fwd(p, S, i, o) {
      const nu = S[i + 4], eps = p.eps ?? 1e-5;
      const v = nu === nu ? fVs(S[i + 1], eps, nu) : fVar(S[i], S[i + 1], S[i + 2], 0, 0, p.d, eps);
      // the output's tokens have fixed norms, so its pooled correlation is the input's mean per-pair
      // cosine (Pearson, = the cosine to O(1/d²)): the input's r plus its finite-width gap (cosGap;
      // 0 where the input's pair fluctuations are unknown, as for a component); none left after it
      setM(S, o, 0, v, cosR(S, i), 0, 0);
      setF(S, o, 0, 0);
      if (normOutsideDomain(eps, S[i + 1] * (1 - 1 / p.d))) S[o + R_WARN] = 1;
    },
    bwd(p, S, i, _o, G, gi, go) {
      const d = p.d, eps = p.eps ?? 1e-5, k = S[i + 3], nu0 = S[i + 4], g = G[gi], rg = G[gi + 1], a = G[gi + 2], b = G[gi + 3];
      const nu = nu0 === nu0 ? nu0 : 1 / d;
      const kc = Math.min(k === k ? k / (1 - nu) : 2 / (d - 1), 0.9);
      const v = fGVs(S[i + 1], g, d, eps, a === a ? a : 1, b === b ? b : 1, kc, nu);
      setG(G, go, v, layernormGradR(rg, S[i + 2], d, a, b), 0, 0);
    },
  },
});

/** DSLM as published: Cov = r(1 − 1/d) against unit variance, gradient σ_g²/σ², r_g unchanged. */
export const layernormPaper = defineBlock<NormParams, null>({
  params: layernorm.params,
  doc: { ...layernorm.doc, title: 'LayerNorm (DSLM row)', source: 'DSLM LayerNorm row as published', method: 'closed-form' },
  forward(p, x) {
    return { out: { mean: 0, var: 1, r: x.r * (1 - 1 / p.d) }, method: 'closed-form', warnings: NO_WARNINGS, cache: null };
  },
  backward(_p, x, _f, g) {
    return { var: x.var > 0 ? g.var / x.var : g.var, r: g.r };
  },
});
