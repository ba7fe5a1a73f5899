/**
 * RMSNorm over d features, γ = 1: y = x / sqrt(mean_f(x²) + eps). Not in DSLM; derived here.
 *
 * With q = σ² + μ² (the mean square, which concentrates for large d):
 *   mean μ/sqrt(q+eps), Var σ²/(q+eps), centred token correlation unchanged (every token is
 *   divided by the same rms to O(1/√d)).
 * Backward: dx = (I − yyᵀ/d) dy / sqrt(q+eps), rank d − 1 ⇒ Var = σ_g² (1 − 1/d) E[1/(q + eps)];
 *   the per-token mean square fluctuates with relative variance κ_q = (2σ⁴ + 4μ²σ²)/(d(σ²+μ²)²)
 *   for an iid input, and E[1/q] = 1/((1 − κ_q) E q) (exact, d/(d−2), at μ = 0). In a stack the
 *   engine's κ and the gradient alignment a with the token direction replace the iid values:
 *   Var = σ_g²(1 − a/d)/(1 − κ)/(q + eps); the returned gradient has a = 0;
 *   tr(P_i P_j) = d − 2 + ρ_u², ρ_u = (rσ² + μ²)/q the uncentred token correlation of y.
 */
import { compile, cosR, kernelBlock, R_WARN, setF, setG, setM } from './_core.js';
import { normDomainWarning, normOutsideDomain, normParams, type NormParams } from './layernorm.js';

const V = ['mu', 's', 'r', 'g', 'rg', 'd', 'eps'];
const E = {
  mean: 'mu/sqrt(s+mu^2+eps)',
  var: 's/(s+mu^2+eps)',
  r: 'r',
  rState: 'r + 3/4*r*k + 1/4*r*k2 - ka',
  gradVar: 'g*(1-1/d)/(1 - 2*(s^2 + 2*mu^2*s)/(d*(s+mu^2)^2))/(s+mu^2+eps)',
  gradVarState: 'g*(1-a/d)/(1-kq)/(s+mu^2+eps)',
  gradVarPost: 'g*(1-a/d)/(1-kq)/(s+mu^2+eps)*(1-e/(d-1))',
  gradR: 'rg*(d-2+((r*s+mu^2)/(s+mu^2))^2)/(d-1)',
};
const fMean = compile(E.mean, V), fVar = compile(E.var, V), fGR = compile(E.gradR, V);
const fGVs = compile(E.gradVarState, ['mu', 's', 'g', 'd', 'eps', 'a', 'kq']);

export const rmsnorm = kernelBlock<NormParams>({
  params: [{ ...normParams[0], min: 3 }, normParams[1]],
  doc: {
    name: 'rmsnorm',
    title: 'RMSNorm (γ=1)',
    source: 'derived here (not covered by DSLM): rms concentration + Jacobian projection of rank d−1',
    assumptions: ['features of a token iid given the token-shared component', 'upstream gradient independent of the normalised activations'],
    domain: 'd >= 3; eps small against the mean square',
    method: 'closed-form',
    symbols: { mu: 'input mean', s: 'input variance', r: 'input token correlation (centred)', g: 'upstream gradient variance', rg: 'upstream gradient correlation', d: 'width', eps: 'epsilon', a: 'gradient alignment with the token direction', kq: 'per-token dispersion of the mean square', e: 'excess backward gain of the removed output direction (Post-LN, homogeneous branch)', k: 'input κ: relative variance of a token\'s mean square B', k2: 'input Cov(B_i, B_j) of two tokens', ka: 'input Cov(A_ij, B_i), A the pair\'s normalised dot product' },
    forward: { mean: [{ expr: E.mean }], var: [{ expr: E.var }], r: [{ expr: E.r, when: 'input pair fluctuations unknown (component), or a non-zero mean' }, { expr: E.rState, when: 'inside a stack, zero-mean input: its mean per-pair cosine (engine state κ, K2, KA; formulas/layernorm.ts, formulas/_core.ts cosGap)' }] },
    backward: { gradVar: [{ expr: E.gradVar, when: 'iid Gaussian input, isotropic gradient (component)' }, { expr: E.gradVarState, when: 'inside a stack (engine state κ, a)' }, { expr: E.gradVarPost, when: 'post-norm of a Post-LN sub-layer with a homogeneous branch (excess e: formulas/residual.ts)' }], gradR: [{ expr: E.gradR }] },
  },
  warn: (p, x) => [normDomainWarning('rmsnorm', p.eps ?? 1e-5, x.var + x.mean * x.mean)],
  kernel: {
    fwd(p, S, i, o) {
      const eps = p.eps ?? 1e-5, mu = S[i], s = S[i + 1], r = S[i + 2];
      // pooled output correlation = the input's mean per-pair cosine (cosR: r plus the finite-width
      // gap of a zero-mean input with known pair fluctuations; r otherwise), none left after it
      setM(S, o, fMean(mu, s, r, 0, 0, p.d, eps), fVar(mu, s, r, 0, 0, p.d, eps), cosR(S, i), 0, S[i + 4]);
      setF(S, o, 0, 0);
      if (normOutsideDomain(eps, s + mu * mu)) S[o + R_WARN] = 1;
    },
    bwd(p, S, i, _o, G, gi, go) {
      const mu = S[i], s = S[i + 1], k = S[i + 3], eps = p.eps ?? 1e-5, g = G[gi], rg = G[gi + 1], a = G[gi + 2];
      const q = s + mu * mu;
      const kq = Math.min(k === k ? k : q > 0 ? (2 * (s * s + 2 * mu * mu * s)) / (p.d * q * q) : 0, 0.9);
      const v = fGVs(mu, s, g, p.d, eps, a === a ? a : 1, kq);
      setG(G, go, v, q > 0 ? fGR(mu, s, S[i + 2], g, rg, p.d, eps) : rg, 0, G[gi + 3]);
    },
  },
});
