/**
 * SiLU / swish x·sigmoid(x). No closed form for Gaussian moments: quadrature (Mehler–Hermite,
 * see _activation.ts) for mean, variance, token correlation, gradient variance and correlation.
 */
import { kernelBlock, R_C, R_WARN, setFAct, setG, setM } from './_core.js';
import { activationKappa, activationMomentsInto, QUADRATURE_NOTE, type ActivationFns } from './_activation.js';

const sig = (x: number): number => 1 / (1 + Math.exp(-x));
export const SILU: ActivationFns = {
  name: 'silu',
  f: (x) => x * sig(x),
  df: (x) => { const s = sig(x); return s * (1 + x * (1 - s)); },
};

/** The input variance up to which the quadrature's accuracy (~1e-6 relative) is checked (the domain);
 * above it the result carries siluDomainWarning (numbers unchanged). */
export const SILU_S_MAX = 1e4;
export function siluDomainWarning(s: number): string {
  return `silu outside its domain (quadrature accuracy checked for input variance <= 1e4): input variance ${Number.isFinite(s) ? s.toPrecision(3) : 'beyond the double range (overflow)'}`;
}

export const silu = kernelBlock<{ d?: number }>({
  params: [{ name: 'd', kind: 'integer', min: 1, optional: true, doc: 'width (only for the per-token dispersion of the engine)' }],
  doc: {
    name: 'silu',
    title: 'SiLU (swish) x·σ(x)',
    source: 'derived here: Gaussian expectations by quadrature (no closed form exists)',
    assumptions: ['input Gaussian per feature', 'two tokens jointly Gaussian with correlation r', 'upstream gradient independent of the pre-activation'],
    domain: 'any mu, s; quadrature accurate to ~1e-6 relative for s <= 1e4',
    method: 'quadrature',
    symbols: { mu: 'input mean', s: 'input variance', r: 'input token correlation', g: 'upstream gradient variance', rg: 'upstream gradient correlation' },
    forward: {
      mean: [{ expr: 'E[silu(mu + sqrt(s) Z)]', when: 'quadrature' }],
      var: [{ expr: 'E[silu(X)^2] - mean^2', when: 'quadrature' }],
      r: [{ expr: '(sum_k r^k c_k^2 - mean^2)/var', when: 'Mehler series, c_k Hermite coefficients of silu(mu + sqrt(s) Z)' }],
    },
    backward: {
      gradVar: [{ expr: "g E[silu'(X)^2]", when: 'quadrature' }],
      gradR: [{ expr: "rg sum_k r^k d_k^2 / E[silu'(X)^2]", when: "Mehler series, d_k Hermite coefficients of silu'" }],
    },
    notes: [QUADRATURE_NOTE],
  },
  warn: (_p, x) => [siluDomainWarning(x.var)],
  kernel: {
    fwd(p, S, i, o) {
      const mu = S[i], s = S[i + 1], c = o + R_C;
      activationMomentsInto(SILU, mu, s, S[i + 2], S, c); // [mean, var, r, E f², E f'², E f'f']
      setM(S, o, S[c], S[c + 1], S[c + 2], activationKappa(SILU, mu, s, S[i + 3], p.d), NaN, 1);
      setFAct(S, o);
      if (s > SILU_S_MAX) S[o + R_WARN] = 1;
    },
    bwd(_p, S, _i, o, G, gi, go) {
      const dm2 = S[o + R_C + 4], dcross = S[o + R_C + 5];
      setG(G, go, G[gi] * dm2, dm2 > 0 ? (G[gi + 1] * dcross) / dm2 : 0);
    },
  },
});
