/**
 * RMSNorm over d features, γ = 1: y = x / sqrt(mean_f(x²) + eps). Not in DSLM; derived here.
 *
 * With q = σ² + μ² (the mean square, which concentrates for large d):
 *   mean μ/sqrt(q+eps), Var σ²/(q+eps), centred token correlation unchanged (every token is
 *   divided by the same rms to O(1/√d)).
 * Backward: dx = (I − yyᵀ/d) dy / sqrt(q+eps), rank d − 1 ⇒ Var = σ_g² (1 − 1/d) E[1/(q + eps)];
 *   the per-token mean square fluctuates (Var q = (2σ⁴ + 4μ²σ²)/d), so by the delta method
 *   E[1/q] = (1/E q)(1 + (2σ⁴ + 4μ²σ²)/((d−2)(σ²+μ²)²)) (exact, d/(d−2), at μ = 0);
 *   tr(P_i P_j) = d − 2 + ρ_u², ρ_u = (rσ² + μ²)/q the uncentred token correlation of y.
 */
import { compile, defineBlock } from './_core.js';
import { normParams, type NormParams } from './layernorm.js';

const V = ['mu', 's', 'r', 'g', 'rg', 'd', 'eps'];
const E = {
  mean: 'mu/sqrt(s+mu^2+eps)',
  var: 's/(s+mu^2+eps)',
  r: 'r',
  gradVar: 'g*(1-1/d)*(1 + (2*s^2 + 4*mu^2*s)/((d-2)*(s+mu^2)^2))/(s+mu^2+eps)',
  gradR: 'rg*(d-2+((r*s+mu^2)/(s+mu^2))^2)/(d-1)',
};
const fMean = compile(E.mean, V), fVar = compile(E.var, V), fGV = compile(E.gradVar, V), fGR = compile(E.gradR, V);

export const rmsnorm = defineBlock<NormParams, null>({
  params: [{ ...normParams[0], min: 3 }, normParams[1]],
  doc: {
    name: 'rmsnorm',
    title: 'RMSNorm (γ=1)',
    source: 'derived here (not covered by DSLM): rms concentration + Jacobian projection of rank d−1',
    assumptions: ['features of a token iid given the token-shared component', 'upstream gradient independent of the normalised activations'],
    domain: 'd >= 3; eps small against the mean square',
    method: 'closed-form',
    symbols: { mu: 'input mean', s: 'input variance', r: 'input token correlation (centred)', g: 'upstream gradient variance', rg: 'upstream gradient correlation', d: 'width', eps: 'epsilon' },
    forward: { mean: [{ expr: E.mean }], var: [{ expr: E.var }], r: [{ expr: E.r }] },
    backward: { gradVar: [{ expr: E.gradVar }], gradR: [{ expr: E.gradR }] },
  },
  forward(p, x) {
    const a = [x.mean, x.var, x.r, 0, 0, p.d, p.eps ?? 1e-5];
    return { out: { mean: fMean(...a), var: fVar(...a), r: x.r }, method: 'closed-form', warnings: [], cache: null };
  },
  backward(p, x, _f, g) {
    const a = [x.mean, x.var, x.r, g.var, g.r, p.d, p.eps ?? 1e-5];
    return { var: fGV(...a), r: x.var + x.mean * x.mean > 0 ? fGR(...a) : g.r };
  },
});
