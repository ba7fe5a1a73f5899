/**
 * ReLU. Zero-mean input: closed forms of DSLM (arc-cosine kernel of Cho & Saul).
 *   mean σ/√(2π), Var σ²(π−1)/(2π), r_out = (πr + √(1−r²) − r·acos r − 1)/(π − 1),
 *   gradVar σ_g²/2, r_g,in = r_g (1/2 + asin(r)/π).
 * Non-zero input mean μ (a = μ/σ): rectified-Gaussian closed forms for the mean
 *   μΦ(a) + σφ(a), the second moment (μ²+σ²)Φ(a) + μσφ(a) and gradVar σ_g² Φ(a) (derived here);
 *   the two-token terms by quadrature (DSLM's zero-mean rows give 50–240% errors there).
 */
import { compile, defineBlock, integrate, kernelBlock, normCdf, normPdf, NO_WARNINGS, R_C, setFAct, setG, setM } from './_core.js';
import { activationKappa, activationMomentsInto, QUADRATURE_NOTE, type ActivationFns } from './_activation.js';

const V = ['mu', 's', 'r', 'g', 'rg'];
const E = {
  mean: 'sqrt(s/(2*pi))',
  var: 's*(pi-1)/(2*pi)',
  r: '(pi*r + sqrt(1-r^2) - r*acos(r) - 1)/(pi-1)',
  gradVar: 'g/2',
  gradR: 'rg*(1/2 + asin(r)/pi)',
};
const fMean = compile(E.mean, V), fVar = compile(E.var, V), fR = compile(E.r, V), fGV = compile(E.gradVar, V), fGR = compile(E.gradR, V);

/** ReLU is homogeneous of degree 1: at zero mean E[relu²] = s/2, E[relu⁴] = 3s²/2, so γ = 1 and
 * E[relu⁴]/E[relu²]² − 1 = 6 − 1 = 5 for every s. */
/** The uncentred arc-cosine kernel E[relu(x)relu(y)]/E[relu(x)²] of a zero-mean Gaussian pair with
 * correlation r (Cho & Saul): (√(1 − r²) + (π − acos r)r)/π; the centred r row above is
 * (π·k(r) − 1)/(π − 1). */
export function reluArcCos(r: number): number {
  const p = Math.min(Math.max(r, -1), 1);
  return (Math.sqrt(1 - p * p) + (Math.PI - Math.acos(p)) * p) / Math.PI;
}

export const RELU: ActivationFns = { name: 'relu', f: (x) => (x > 0 ? x : 0), df: (x) => (x > 0 ? 1 : 0), kink: 0, zeroMeanDispersion: Object.freeze({ ratio: 5, gamma: 1 }) };

/** P(X > 0, Y > 0) for standard-normal-shifted pair (a = μ/σ, correlation r), Plackett's identity
 * dΦ₂/dr = φ₂: Φ(a)² + ∫_0^{asin r} exp(−a²/(1+sin θ))/(2π) dθ (smooth after t = sin θ). */
export function bothPositive(a: number, r: number): number {
  const th = Math.asin(Math.max(-1, Math.min(1, r)));
  const pa = normCdf(a);
  return pa * pa + integrate((t) => Math.exp((-a * a) / (1 + Math.sin(t))), 0, th, 24) / (2 * Math.PI);
}

export const relu = kernelBlock<{ d?: number }>({
  params: [{ name: 'd', kind: 'integer', min: 1, optional: true, doc: 'width (only for the per-token dispersion of the engine)' }],
  doc: {
    name: 'relu',
    title: 'ReLU',
    source: 'DSLM ReLU row (zero mean); non-zero mean: rectified-Gaussian moments + quadrature, derived here',
    assumptions: ['input Gaussian per feature', 'two tokens jointly Gaussian with correlation r', 'upstream gradient independent of the pre-activation'],
    domain: 'closed form at mean 0; any mean by quadrature',
    method: 'closed-form',
    symbols: { mu: 'input mean', s: 'input variance', r: 'input token correlation', g: 'upstream gradient variance', rg: 'upstream gradient correlation' },
    forward: {
      mean: [{ expr: E.mean, when: 'mu = 0' }, { expr: 'mu*(1+erf(mu/sqrt(2*s)))/2 + sqrt(s/(2*pi))*exp(-mu^2/(2*s))', when: 'any mu' }],
      var: [{ expr: E.var, when: 'mu = 0' }, { expr: '(mu^2+s)*(1+erf(mu/sqrt(2*s)))/2 + mu*sqrt(s/(2*pi))*exp(-mu^2/(2*s)) - m^2', when: 'any mu (m = mean)' }],
      r: [{ expr: E.r, when: 'mu = 0' }],
    },
    backward: {
      gradVar: [{ expr: E.gradVar, when: 'mu = 0' }, { expr: 'g*(1+erf(mu/sqrt(2*s)))/2', when: 'any mu' }],
      gradR: [{ expr: E.gradR, when: 'mu = 0' }],
    },
    notes: [`mu != 0: two-token moments by ${QUADRATURE_NOTE}`],
  },
  kernel: {
    fwd(p, S, i, o) {
      const mu = S[i], s = S[i + 1], r = S[i + 2];
      const kappa = activationKappa(RELU, mu, s, S[i + 3], p.d);
      if (mu === 0 || s <= 0) {
        if (s <= 0) setM(S, o, Math.max(mu, 0), 0, 0, kappa, NaN);
        else setM(S, o, fMean(0, s, r, 0, 0), fVar(0, s, r, 0, 0), fR(0, s, r, 0, 0), kappa, NaN);
        setFAct(S, o);
        return;
      }
      // non-zero mean: rectified-Gaussian closed forms for mean and variance, the two-token
      // moment by quadrature
      activationMomentsInto(RELU, mu, s, r, S, o + R_C);
      const sd = Math.sqrt(s), a = mu / sd;
      const mean = mu * normCdf(a) + sd * normPdf(a);
      const m2 = (mu * mu + s) * normCdf(a) + mu * sd * normPdf(a);
      const v = Math.max(m2 - mean * mean, 0);
      const cov = S[o + R_C + 2] * S[o + R_C + 1];
      setM(S, o, mean, v, v > 0 ? Math.max(-1, Math.min(1, cov / v)) : 0, kappa, NaN, 1);
      setFAct(S, o);
    },
    bwd(_p, S, i, _o, G, gi, go) {
      const mu = S[i], s = S[i + 1], g = G[gi], rg = G[gi + 1];
      if (mu === 0 || s <= 0) {
        if (s <= 0) setG(G, go, mu > 0 ? g : 0, rg);
        else setG(G, go, fGV(0, s, S[i + 2], g, rg), fGR(0, s, S[i + 2], g, rg));
        return;
      }
      const pa = normCdf(mu / Math.sqrt(s));
      // P(X > 0, Y > 0) ≤ P(X > 0), so |gradR| ≤ |r_g|: the quadrature's rounding past it at r = 1
      // (a ratio of 1 + 3e-9) gives r_g itself
      const q = pa > 0 ? (rg * bothPositive(mu / Math.sqrt(s), S[i + 2])) / pa : 0;
      setG(G, go, g * pa, Math.abs(q) > Math.abs(rg) ? rg : q);
    },
  },
});

/** DSLM as published: the zero-mean rows applied whatever the input mean (the variance only). */
export const reluPaper = defineBlock<{ d?: number }, null>({
  params: relu.params,
  doc: { ...relu.doc, name: 'relu', title: 'ReLU (DSLM, zero-mean rows)', source: 'DSLM ReLU row as published (zero-mean input assumed)', method: 'closed-form', domain: 'mean 0 only (applied regardless, as published)' },
  forward(_p, x) {
    const a = [0, x.var, x.r, 0, 0];
    return { out: { mean: fMean(...a), var: fVar(...a), r: x.var > 0 ? fR(...a) : 0 }, method: 'closed-form', warnings: NO_WARNINGS, cache: null };
  },
  backward(_p, x, _f, g) {
    const a = [0, x.var, x.r, g.var, g.r];
    return { var: fGV(...a), r: fGR(...a) };
  },
});
