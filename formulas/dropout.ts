/**
 * Inverted dropout y = x·m/(1−p), m ~ Bernoulli(1−p) iid per entry (training mode).
 *
 * Source: DSLM Dropout row, with the mean term kept: E[y²] = (σ²+μ²)/(1−p) ⇒
 * Var = (σ² + pμ²)/(1−p) (AutoInit drops pμ²/(1−p); it matters after ReLU). Masks of two tokens
 * are independent, so the token covariance rσ² is unchanged. Backward uses the same mask:
 * Var(dx) = σ_g²/(1−p), covariance unchanged ⇒ r_g,in = (1−p) r_g.
 */
import { compile, defineBlock } from './_core.js';

export interface DropoutParams { p: number }

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
  params: [{ name: 'p', kind: 'number', min: 0, max: 1, maxExclusive: true, doc: 'drop probability' }],
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
    const a = [x.mean, x.var, x.r, 0, 0, p.p];
    const v = fVar(...a);
    return { out: { mean: x.mean, var: v, r: v > 0 ? (x.r * x.var) / v : 0 }, method: 'closed-form', warnings: [], cache: null };
  },
  backward(p, _x, _f, g) {
    const a = [0, 0, 0, g.var, g.r, p.p];
    return { var: fGV(...a), r: fGR(...a) };
  },
});
