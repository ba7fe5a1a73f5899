/**
 * Linear map y = x W + b, W ∈ R^{dIn×dOut} iid N(0, std²), b iid N(0, biasStd²).
 *
 * Source: DSLM (Kedia et al. 2024), Linear row; the bias term and the input-mean term
 * (an input mean becomes token correlation) are derived here: with x = μ + z,
 *   E[y_f²] = dIn σ_w² (σ² + μ²) + σ_b²,
 *   Cov(y_if, y_jf) = dIn σ_w² (rσ² + μ²) + σ_b²  (the offsets μΣ_k W_kf and b_f are shared by
 *   every token of the sequence, so they act as correlation, not mean).
 * Backward: dx = dy Wᵀ ⇒ Var = dOut σ_w² σ_g², token covariance scales by the same factor.
 */
import { compile, kernelBlock, R_K2, R_KA, setF, setG, setM, type ParamSpec } from './_core.js';

export interface LinearParams { dIn: number; dOut: number; std: number; biasStd?: number }

const V = ['mu', 's', 'r', 'g', 'rg', 'din', 'dout', 'w', 'b'];
const E = {
  mean: '0',
  var: 'din*w^2*(s+mu^2) + b^2',
  r: '(din*w^2*(r*s+mu^2) + b^2) / (din*w^2*(s+mu^2) + b^2)',
  gradVar: 'dout*w^2*g',
  gradR: 'rg',
};
const fVar = compile(E.var, V);
const fCov = compile('din*w^2*(r*s+mu^2) + b^2', V);
const fGrad = compile(E.gradVar, V);

const params: ParamSpec[] = [
  { name: 'dIn', kind: 'integer', min: 1, doc: 'fan-in' },
  { name: 'dOut', kind: 'integer', min: 1, doc: 'fan-out' },
  { name: 'std', kind: 'number', min: 0, doc: 'weight std' },
  { name: 'biasStd', kind: 'number', min: 0, optional: true, default: 0, doc: 'bias std (0: no bias)' },
];

export const linear = kernelBlock<LinearParams>({
  params,
  doc: {
    name: 'linear',
    title: 'Linear layer y = xW + b',
    source: 'DSLM (Kedia et al., ICML 2024) Linear row; bias and input-mean terms derived here',
    assumptions: ['weights and bias iid Gaussian, independent of the input', 'moments are expectations over the weights; token statistics over features (large dIn)'],
    domain: 'any input mean/variance; exact in expectation',
    method: 'closed-form',
    symbols: { mu: 'input mean', s: 'input variance σ²', r: 'input token correlation', g: 'upstream gradient variance', rg: 'upstream gradient token correlation', din: 'fan-in dIn', dout: 'fan-out dOut', w: 'weight std', b: 'bias std' },
    forward: { mean: [{ expr: E.mean }], var: [{ expr: E.var }], r: [{ expr: E.r }] },
    backward: { gradVar: [{ expr: E.gradVar }], gradR: [{ expr: E.gradR }] },
  },
  kernel: {
    fwd(p, S, i, o) {
      const b = p.biasStd ?? 0, mu = S[i], s = S[i + 1], r = S[i + 2], k = S[i + 3];
      const v = fVar(mu, s, r, 0, 0, p.dIn, p.dOut, p.std, b);
      const c = fCov(mu, s, r, 0, 0, p.dIn, p.dOut, p.std, b);
      // per-token dispersion: for fixed x the dOut outputs are iid N(0, |x|²σ²/…): + 2/dOut;
      // per-token feature mean Σ_k x_k·mean_j(W_kj) (+ mean_j b_j): a fraction 1/dOut of the variance
      const ro = v > 0 ? c / v : 0;
      setM(S, o, 0, v, ro, (k === k ? k : 2 / p.dIn) + 2 / p.dOut, 1 / p.dOut);
      // pair fluctuations (formulas/_core.ts cosGap): the input's, plus a Wishart sample of dOut
      // features at the output correlation (2ρ²/dOut, 2ρ/dOut); an unknown input as iid Gaussian over
      // dIn; a bias (a token-shared vector with its own norm fluctuation) is not carried: unknown
      if (b === 0) {
        const k2 = S[i + R_K2], ka = S[i + R_KA], iid = k2 === k2 && ka === ka ? 0 : 2 / p.dIn;
        setF(S, o, (iid ? iid * ro * ro : k2) + (2 * ro * ro) / p.dOut, (iid ? iid * ro : ka) + (2 * ro) / p.dOut);
      }
    },
    bwd(p, _S, _i, _o, G, gi, go) {
      const rg = G[gi + 1];
      setG(G, go, fGrad(0, 0, 0, G[gi], rg, p.dIn, p.dOut, p.std, 0), rg);
    },
  },
});
