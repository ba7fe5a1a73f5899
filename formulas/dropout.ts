/**
 * Inverted dropout y = x·m/(1−p), m ~ Bernoulli(1−p) iid per entry (training mode).
 *
 * Source: DSLM Dropout row, with the mean term kept: E[y²] = (σ²+μ²)/(1−p) ⇒
 * Var = (σ² + pμ²)/(1−p) (AutoInit drops pμ²/(1−p); it matters after ReLU). Masks of two tokens
 * are independent, so the token covariance rσ² is unchanged. Backward uses the same mask:
 * Var(dx) = σ_g²/(1−p), covariance unchanged ⇒ r_g,in = (1−p) r_g.
 */
import { compile, defineBlock, NO_WARNINGS, mom, gmom } from './_core.js';

export interface DropoutParams { p: number; /** width, for the per-token dispersion only */ d?: number }

const V = ['mu', 's', 'r', 'g', 'rg', 'p'];
const E = {
  mean: 'mu',
  var: '(s + p*mu^2)/(1-p)',
  r: 'r*s*(1-p)/(s + p*mu^2)',
  gradVar: 'g/(1-p)',
  gradR: '(1-p)*rg',
};
const fVar = compile(E.var, V);
const fGV = compile(E.gradVar, V);
const fGR = compile(E.gradR, V);

export const dropout = defineBlock<DropoutParams, null>({
  params: [
    { name: 'p', kind: 'number', min: 0, max: 1, maxExclusive: true, doc: 'drop probability' },
    { name: 'd', kind: 'integer', min: 1, optional: true, doc: 'width (only for the per-token dispersion of the engine)' },
  ],
  doc: {
    name: 'dropout',
    title: 'Inverted dropout (training mode)',
    source: 'DSLM Dropout row; pμ²/(1−p) mean term derived here',
    assumptions: ['independent Bernoulli masks per entry', 'mask independent of the activations and of the upstream gradient'],
    domain: 'p in [0, 1); exact',
    method: 'closed-form',
    symbols: { mu: 'input mean', s: 'input variance', r: 'input token correlation', g: 'upstream gradient variance', rg: 'upstream gradient correlation', p: 'drop probability' },
    forward: { mean: [{ expr: E.mean }], var: [{ expr: E.var }], r: [{ expr: E.r }] },
    backward: { gradVar: [{ expr: E.gradVar }], gradR: [{ expr: E.gradR }] },
  },
  forward(p, x) {
    const v = fVar(x.mean, x.var, x.r, 0, 0, p.p);
    // per-token dispersion: the mask adds Var((1/d)Σx²m/(1−p)) = p/((1−p)d)·E[x⁴]/E[x²]² (Gaussian kurtosis 3)
    const kappa = x.kappa !== undefined && p.d ? x.kappa + (3 * p.p) / ((1 - p.p) * p.d) : x.kappa;
    // per-token mean: the mask adds Σ_f x_f(m_f/(1−p) − 1)/d, variance p/(1−p)·E[x²]/d
    const nu = x.nu !== undefined && p.d && v > 0 ? (x.nu * x.var + ((p.p / (1 - p.p)) * (x.var + x.mean * x.mean)) / p.d) / v : x.nu;
    return { out: mom(x.mean, v, v > 0 ? (x.r * x.var) / v : 0, kappa, nu), method: 'closed-form', warnings: NO_WARNINGS, cache: null };
  },
  backward(p, _x, _f, g) {
    return gmom(fGV(0, 0, 0, g.var, g.r, p.p), fGR(0, 0, 0, g.var, g.r, p.p));
  },
});
