/**
 * Inverted dropout y = x·m/(1−p), m ~ Bernoulli(1−p) iid per entry (training mode).
 *
 * Source: DSLM Dropout row, with the mean term kept: E[y²] = (σ²+μ²)/(1−p) ⇒
 * Var = (σ² + pμ²)/(1−p) (AutoInit drops pμ²/(1−p); it matters after ReLU). Masks of two tokens
 * are independent, so the token covariance rσ² is unchanged. Backward uses the same mask:
 * Var(dx) = σ_g²/(1−p), covariance unchanged ⇒ r_g,in = (1−p) r_g.
 */
import { compile, kernelBlock, R_K2, R_KA, setF, setG, setM, uncentredR } from './_core.js';

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

export const dropout = kernelBlock<DropoutParams>({
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
  kernel: {
    fwd(p, S, i, o) {
      const mu = S[i], s = S[i + 1], r = S[i + 2], k = S[i + 3], nu = S[i + 4], q = p.p;
      const v = fVar(mu, s, r, 0, 0, q);
      // per-token dispersion: the mask adds Var((1/d)Σx²m/(1−p)) = p/((1−p)d)·E[x⁴]/E[x²]² (Gaussian
      // kurtosis 3); per-token mean: the mask adds Σ_f x_f(m_f/(1−p) − 1)/d, variance p/(1−p)·E[x²]/d.
      // Unknown κ/ν (NaN) stay unknown.
      const kappa = p.d ? k + (3 * q) / ((1 - q) * p.d) : k;
      const nuOut = p.d && v > 0 ? (nu * s + ((q / (1 - q)) * (s + mu * mu)) / p.d) / v : nu;
      setM(S, o, mu, v, v > 0 ? (r * s) / v : 0, kappa, nuOut);
      // pair fluctuations (cosGap): B_i keeps its value given x (Cov(B_i, B_j) unchanged; the masks
      // of two tokens are independent), A shrinks by (1 − p) in the output's normalisation, and the
      // masks add Cov(A, B) = p·E[x_i³x_j]/E[x²]²/d = 3pρ/d (Gaussian features, ρ the uncentred
      // input correlation)
      if (p.d) {
        setF(S, o, S[i + R_K2], (1 - q) * S[i + R_KA] + (3 * q * uncentredR(mu, s, r)) / p.d);
      }
    },
    bwd(p, _S, _i, _o, G, gi, go) {
      const g = G[gi], rg = G[gi + 1];
      setG(G, go, fGV(0, 0, 0, g, rg, p.p), fGR(0, 0, 0, g, rg, p.p));
    },
  },
});
