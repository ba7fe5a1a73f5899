/**
 * GeLU, exact (x·Φ(x)) and tanh-approximate (GPT-2's "gelu_new").
 *
 * Exact GeLU, zero-mean input, s = σ², a = s/(1+s) — DSLM GeLU row:
 *   mean s/√(2π(1+s)); Var (s/2π)(π − a − acos a + 2a√((1−a)/(1+a)));
 *   Cov (s/4)[r + (2/π) r asin(r a) + (2/π) s (s(1−r²) + 1 + r²)/((s+1)√((s+1)² − (rs)²))] − mean²;
 *   gradVar σ_g² [1/2 + (1/2π)(−acos a + a(5s+3)/(1+2s)^{3/2})].
 * The gradient correlation (no closed form in DSLM), non-zero means and the tanh variant use
 * quadrature (see _activation.ts).
 */
import { compile, defineBlock, erf, kernelBlock, normPdf, NO_WARNINGS, R_C, setFAct, setG, setM } from './_core.js';
import { activationKappa, activationMoments, activationMomentsInto, QUADRATURE_NOTE, type ActivationFns } from './_activation.js';

export interface GeluParams { approximate?: 'none' | 'tanh'; d?: number }

const V = ['mu', 's', 'r', 'g', 'rg'];
const A = '(s/(1+s))';
const E = {
  mean: 's/sqrt(2*pi*(1+s))',
  var: `(s/(2*pi))*(pi - ${A} - acos(${A}) + 2*${A}*sqrt((1-${A})/(1+${A})))`,
  cov: `(s/4)*(r + (2/pi)*r*asin(r*${A}) + (2/pi)*s*(s*(1-r^2) + (1+r^2))/((s+1)*sqrt((s+1)^2 - (r*s)^2))) - s^2/(2*pi*(1+s))`,
  gradVar: `g*(1/2 + (1/(2*pi))*(-acos(${A}) + ${A}*(5*s+3)/(1+2*s)^(3/2)))`,
};
const fMean = compile(E.mean, V), fVar = compile(E.var, V), fCov = compile(E.cov, V), fGV = compile(E.gradVar, V);

const K = Math.sqrt(2 / Math.PI);
export const GELU: ActivationFns = {
  name: 'gelu',
  f: (x) => x * 0.5 * (1 + erf(x / Math.SQRT2)),
  df: (x) => 0.5 * (1 + erf(x / Math.SQRT2)) + x * normPdf(x),
};
export const GELU_TANH: ActivationFns = {
  name: 'gelu_tanh',
  f: (x) => 0.5 * x * (1 + Math.tanh(K * (x + 0.044715 * x * x * x))),
  df: (x) => {
    const t = Math.tanh(K * (x + 0.044715 * x * x * x));
    return 0.5 * (1 + t) + 0.5 * x * (1 - t * t) * K * (1 + 3 * 0.044715 * x * x);
  },
};

interface Cache { m: ReturnType<typeof activationMoments> }

export const gelu = kernelBlock<GeluParams>({
  params: [{ name: 'approximate', kind: 'enum', values: ['none', 'tanh'], optional: true, default: 'none', doc: "'none' = x·Φ(x), 'tanh' = GPT-2 gelu_new" }, { name: 'd', kind: 'integer', min: 1, optional: true, doc: 'width (only for the per-token dispersion of the engine)' }],
  doc: {
    name: 'gelu',
    title: 'GeLU (erf) and tanh-approximate GeLU',
    source: 'DSLM GeLU row (zero mean, exact GeLU); gradient correlation, non-zero mean and tanh variant by quadrature (derived here)',
    assumptions: ['input Gaussian per feature', 'two tokens jointly Gaussian with correlation r', 'upstream gradient independent of the pre-activation'],
    domain: 'closed form: approximate=none and mu = 0; otherwise quadrature (any mu, s)',
    method: 'closed-form',
    symbols: { mu: 'input mean', s: 'input variance', r: 'input token correlation', g: 'upstream gradient variance', rg: 'upstream gradient correlation' },
    forward: {
      mean: [{ expr: E.mean, when: 'mu = 0, exact GeLU' }],
      var: [{ expr: E.var, when: 'mu = 0, exact GeLU' }],
      r: [{ expr: `(${E.cov})/(${E.var})`, when: 'mu = 0, exact GeLU' }],
    },
    backward: {
      gradVar: [{ expr: E.gradVar, when: 'mu = 0, exact GeLU' }],
      gradR: [],
    },
    notes: [`quadrature elsewhere: ${QUADRATURE_NOTE}`],
  },
  kernel: {
    fwd(p, S, i, o) {
      const tanh = p.approximate === 'tanh', A = tanh ? GELU_TANH : GELU, mu = S[i], s = S[i + 1], r = S[i + 2], c = o + R_C;
      const closed = !tanh && mu === 0 && s > 0;
      activationMomentsInto(A, mu, s, r, S, c, !closed); // [mean, var, r, E f², E f'², E f'f'] (quadrature)
      const kappa = activationKappa(A, mu, s, S[i + 3], p.d);
      if (closed) {
        const v = fVar(0, s, r, 0, 0);
        setM(S, o, fMean(0, s, r, 0, 0), v, fCov(0, s, r, 0, 0) / v, kappa, NaN);
      } else setM(S, o, S[c], S[c + 1], S[c + 2], kappa, NaN, 1);
      setFAct(S, o);
    },
    bwd(p, S, i, o, G, gi, go) {
      const mu = S[i], s = S[i + 1], g = G[gi], rg = G[gi + 1], dm2 = S[o + R_C + 4], dcross = S[o + R_C + 5];
      const gv = p.approximate !== 'tanh' && mu === 0 && s > 0 ? fGV(0, s, S[i + 2], g, rg) : g * dm2;
      setG(G, go, gv, dm2 > 0 ? (rg * dcross) / dm2 : 0);
    },
  },
});

/** DSLM as published: zero-mean exact-GeLU rows applied whatever the input mean; the gradient
 * correlation (not given in closed form) by quadrature at mean 0. */
export const geluPaper = defineBlock<GeluParams, Cache>({
  params: gelu.params,
  doc: { ...gelu.doc, title: 'GeLU (DSLM, zero-mean rows)', source: 'DSLM GeLU row as published (zero-mean input, exact GeLU)', domain: 'mean 0 only (applied regardless, as published)' },
  forward(p, x) {
    const m = activationMoments(p.approximate === 'tanh' ? GELU_TANH : GELU, 0, x.var, x.r);
    if (x.var <= 0) return { out: { mean: 0, var: 0, r: 0 }, method: 'closed-form', warnings: NO_WARNINGS, cache: { m } };
    const a = [0, x.var, x.r, 0, 0];
    const v = fVar(...a);
    return { out: { mean: fMean(...a), var: v, r: fCov(...a) / v }, method: 'closed-form', warnings: NO_WARNINGS, cache: { m } };
  },
  backward(_p, x, f, g) {
    const m = f.cache.m;
    return { var: x.var > 0 ? fGV(0, x.var, x.r, g.var, g.r) : g.var / 4, r: m.dm2 > 0 ? (g.r * m.dcross) / m.dm2 : 0 };
  },
});
