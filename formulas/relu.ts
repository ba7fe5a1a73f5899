/**
 * ReLU. Zero-mean input: closed forms of DSLM (arc-cosine kernel of Cho & Saul).
 *   mean σ/√(2π), Var σ²(π−1)/(2π), r_out = (πr + √(1−r²) − r·acos r − 1)/(π − 1),
 *   gradVar σ_g²/2, r_g,in = r_g (1/2 + asin(r)/π).
 * Non-zero input mean μ (a = μ/σ): rectified-Gaussian closed forms for the mean
 *   μΦ(a) + σφ(a), the second moment (μ²+σ²)Φ(a) + μσφ(a) and gradVar σ_g² Φ(a) (derived here);
 *   the two-token terms by quadrature (DSLM's zero-mean rows give 50–240% errors there).
 */
import { compile, defineBlock, integrate, normCdf, normPdf, NO_WARNINGS, mom, gmom } from './_core.js';
import { activationKappa, activationMoments, QUADRATURE_NOTE, type ActivationFns } from './_activation.js';

const V = ['mu', 's', 'r', 'g', 'rg'];
const E = {
  mean: 'sqrt(s/(2*pi))',
  var: 's*(pi-1)/(2*pi)',
  r: '(pi*r + sqrt(1-r^2) - r*acos(r) - 1)/(pi-1)',
  gradVar: 'g/2',
  gradR: 'rg*(1/2 + asin(r)/pi)',
};
const fMean = compile(E.mean, V), fVar = compile(E.var, V), fR = compile(E.r, V), fGV = compile(E.gradVar, V), fGR = compile(E.gradR, V);

export const RELU: ActivationFns = { name: 'relu', f: (x) => (x > 0 ? x : 0), df: (x) => (x > 0 ? 1 : 0), kink: 0 };

/** P(X > 0, Y > 0) for standard-normal-shifted pair (a = μ/σ, correlation r), Plackett's identity
 * dΦ₂/dr = φ₂: Φ(a)² + ∫_0^{asin r} exp(−a²/(1+sin θ))/(2π) dθ (smooth after t = sin θ). */
export function bothPositive(a: number, r: number): number {
  const th = Math.asin(Math.max(-1, Math.min(1, r)));
  const pa = normCdf(a);
  return pa * pa + integrate((t) => Math.exp((-a * a) / (1 + Math.sin(t))), 0, th, 24) / (2 * Math.PI);
}

interface Cache { m: ReturnType<typeof activationMoments> | null }
const NO_CACHE: Cache = Object.freeze({ m: null });

export const relu = defineBlock<{ d?: number }, Cache>({
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
  forward(p, x) {
    const kappa = activationKappa(RELU, x, p.d);
    if (x.mean === 0 || x.var <= 0) {
      if (x.var <= 0) return { out: mom(Math.max(x.mean, 0), 0, 0, kappa), method: 'closed-form', warnings: NO_WARNINGS, cache: NO_CACHE };
      return { out: mom(fMean(0, x.var, x.r, 0, 0), fVar(0, x.var, x.r, 0, 0), fR(0, x.var, x.r, 0, 0), kappa), method: 'closed-form', warnings: NO_WARNINGS, cache: NO_CACHE };
    }
    const m = activationMoments(RELU, x.mean, x.var, x.r);
    // closed-form first and second moments (exact), quadrature only for the two-token term
    const sd = Math.sqrt(x.var), a = x.mean / sd;
    const mean = x.mean * normCdf(a) + sd * normPdf(a);
    const m2 = (x.mean * x.mean + x.var) * normCdf(a) + x.mean * sd * normPdf(a);
    const v = Math.max(m2 - mean * mean, 0);
    const cov = m.r * m.var;
    return { out: mom(mean, v, v > 0 ? Math.max(-1, Math.min(1, cov / v)) : 0, kappa), method: 'quadrature', warnings: NO_WARNINGS, cache: { m } };
  },
  backward(_p, x, f, g) {
    if (f.cache.m === null) {
      if (x.var <= 0) return gmom(x.mean > 0 ? g.var : 0, g.r);
      return gmom(fGV(0, x.var, x.r, g.var, g.r), fGR(0, x.var, x.r, g.var, g.r));
    }
    const a = x.mean / Math.sqrt(x.var);
    const pa = normCdf(a);
    return gmom(g.var * pa, pa > 0 ? (g.r * bothPositive(a, x.r)) / pa : 0);
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
