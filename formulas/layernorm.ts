/**
 * LayerNorm over d features, γ = 1, β = 0, eps (default 1e-5): y = (x − x̄)/sqrt(v + eps),
 * v the per-token biased feature variance, E[v] = σ²(1 − 1/d).
 *
 * Forward: mean 0; Var = v/(v+eps) ≈ 1. The centred token correlation is unchanged: removing the
 * per-token feature mean scales the shared (token-common) and private parts alike by (1 − 1/d),
 * so their ratio stays r. (DSLM writes Cov = r(1 − 1/d); that is the covariance against a
 * variance of 1, and compounded over many norms it drifts — derived here.)
 * Backward: dx = (I − 11ᵀ/d − yyᵀ/d) dy / sqrt(v+eps). The projection has rank d − 2, so
 * Var(dx) = σ_g² (1 − 2/d)/(v + eps). For two tokens tr(P_i P_j) = d − 3 + ρ², ρ = y_i·y_j/d ≈ r,
 * so r_g,in = r_g (d − 3 + r²)/(d − 2). DSLM keeps only σ_g²/σ² (derived here: the O(1/d) terms).
 */
import { compile, defineBlock } from './_core.js';

export interface NormParams { d: number; eps?: number }

const V = ['mu', 's', 'r', 'g', 'rg', 'd', 'eps'];
const E = {
  mean: '0',
  var: 's*(1-1/d)/(s*(1-1/d)+eps)',
  r: 'r',
  gradVar: 'g*(1-2/d)*((d-1)/(d-3))/(s*(1-1/d)+eps)',
  gradR: 'rg*(d-3+r^2)/(d-2)',
};
const fVar = compile(E.var, V), fGV = compile(E.gradVar, V), fGR = compile(E.gradR, V);

export const normParams = [
  { name: 'd', kind: 'integer' as const, min: 2, doc: 'normalised width (features)' },
  { name: 'eps', kind: 'number' as const, min: 0, optional: true, default: 1e-5, doc: 'epsilon inside the square root' },
];

export const layernorm = defineBlock<NormParams, null>({
  params: [{ ...normParams[0], min: 4 }, normParams[1]],
  doc: {
    name: 'layernorm',
    title: 'LayerNorm (γ=1, β=0)',
    source: 'DSLM LayerNorm row (forward); backward O(1/d) Jacobian terms and the unchanged centred correlation derived here',
    assumptions: ['features of a token iid given the token-shared component', 'upstream gradient independent of the normalised activations'],
    domain: 'd >= 4 (E[1/v] is infinite for d = 3); eps small against the per-token variance',
    method: 'closed-form',
    symbols: { mu: 'input mean', s: 'input variance', r: 'input token correlation (centred)', g: 'upstream gradient variance', rg: 'upstream gradient correlation', d: 'width', eps: 'epsilon' },
    forward: { mean: [{ expr: E.mean }], var: [{ expr: E.var }], r: [{ expr: E.r }] },
    backward: { gradVar: [{ expr: E.gradVar }], gradR: [{ expr: E.gradR }] },
  },
  forward(p, x) {
    const a = [x.mean, x.var, x.r, 0, 0, p.d, p.eps ?? 1e-5];
    return { out: { mean: 0, var: fVar(...a), r: x.r }, method: 'closed-form', warnings: [], cache: null };
  },
  backward(p, x, _f, g) {
    const a = [x.mean, x.var, x.r, g.var, g.r, p.d, p.eps ?? 1e-5];
    return { var: fGV(...a), r: fGR(...a) };
  },
});

/** DSLM as published: Cov = r(1 − 1/d) against unit variance, gradient σ_g²/σ², r_g unchanged. */
export const layernormPaper = defineBlock<NormParams, null>({
  params: layernorm.params,
  doc: { ...layernorm.doc, title: 'LayerNorm (DSLM row)', source: 'DSLM LayerNorm row as published', method: 'closed-form' },
  forward(p, x) {
    return { out: { mean: 0, var: 1, r: x.r * (1 - 1 / p.d) }, method: 'closed-form', warnings: [], cache: null };
  },
  backward(_p, x, _f, g) {
    return { var: x.var > 0 ? g.var / x.var : g.var, r: g.r };
  },
});
