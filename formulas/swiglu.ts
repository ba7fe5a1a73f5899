/**
 * SwiGLU feed-forward (LLaMA): h = silu(x W1) ⊙ (x W3), then dropout p_h, W2 (dFF→d), dropout p
 * (p_h = `actDropout`, default p = `dropout`).
 * Derived here (not in DSLM). With a = xW1, b = xW3 independent (different weights), both of
 * variance dσ²s′ and token correlation r′ (uncentred, see linear):
 *   E[h²] = E[silu(a)²]·s_b,  E[h_i h_j] = E[silu(a_i) silu(a_j)]·r′ s_b  (mean 0: b has mean 0).
 * Dropout h′ = h·m/(1−p_h) (m ~ Bernoulli(1−p_h), E[m²] = 1−p_h, masks of two tokens independent):
 *   E[h′²] = E[h²]/(1−p_h), E[h′_i h′_j] = E[h_i h_j]. W2 (iid, mean 0) gives Var = dFF σ2² E[h′²],
 *   Cov = dFF σ2² E[h′_i h′_j] (mean 0), and the output dropout divides Var by (1−p) only:
 *   out Var = dFF σ2² E[h²]/((1−p)(1−p_h)), out Cov = dFF σ2² E[h_i h_j], so
 *   r_out = (1−p)(1−p_h)·E[h_i h_j]/E[h²] (at p_h = p the former (1−p)²).
 * Backward: the output mask (same as forward) gives g/(1−p) with unchanged covariance, W2ᵀ gives
 *   d σ2²·that, the p_h mask another 1/(1−p_h): g_h = d σ2² g/((1−p)(1−p_h)), r_gh = (1−p)(1−p_h) r_g.
 * Then da = dh·b·silu′(a), db = dh·silu(a):
 *   Var(dx) = dFF σ1² g_h s_b E[silu′²] + dFF σ3² g_h E[silu²];
 *   Cov(dx) = r_gh g_h [dFF σ1² r′ s_b E[silu′ silu′] + dFF σ3² E[silu silu]].
 * The silu expectations are by quadrature (Mehler–Hermite, _activation.ts).
 */
import { kernelBlock, R_C, setFAct, setG, setM, uncentredR } from './_core.js';
import { activationDispersion, activationMomentsInto } from './_activation.js';
import { SILU } from './silu.js';

export interface SwigluParams {
  dModel: number; dFF: number; std1: number; std3: number; std2: number;
  /** after W2 (and after the product unless actDropout is given) */
  dropout?: number;
  /** after the product silu(xW1)⊙(xW3) (default: dropout) */
  actDropout?: number;
}

/** (1 − p)(1 − p_h): the product of the two keep rates (output dropout, dropout after the product) */
export function keep2(p: SwigluParams): number {
  const pOut = p.dropout ?? 0;
  return (1 - pOut) * (1 - (p.actDropout ?? pOut));
}

export const swiglu = kernelBlock<SwigluParams>({
  params: [
    { name: 'dModel', kind: 'integer', min: 1, doc: 'model width d' },
    { name: 'dFF', kind: 'integer', min: 1, doc: 'hidden width' },
    { name: 'std1', kind: 'number', min: 0, doc: 'gate projection W1 std' },
    { name: 'std3', kind: 'number', min: 0, doc: 'up projection W3 std' },
    { name: 'std2', kind: 'number', min: 0, doc: 'down projection W2 std' },
    { name: 'dropout', kind: 'number', min: 0, max: 1, maxExclusive: true, optional: true, default: 0, doc: 'dropout after W2 (and after the product unless actDropout is given)' },
    { name: 'actDropout', kind: 'number', min: 0, max: 1, maxExclusive: true, optional: true, doc: 'dropout after the product (default: dropout)' },
  ],
  doc: {
    name: 'swiglu',
    title: 'SwiGLU feed-forward silu(xW1)⊙(xW3) → W2',
    source: 'derived here (not covered by DSLM); silu moments by quadrature',
    assumptions: ['W1, W3, W2 independent iid Gaussian', 'input Gaussian; two tokens jointly Gaussian'],
    domain: 'any input moments',
    method: 'quadrature',
    symbols: { d: 'dModel', f: 'dFF', w1: 'σ1 (gate)', w3: 'σ3 (up)', w2: 'σ2 (down)', p: 'dropout (after W2)', ph: 'actDropout (after the product; default p)', s: 'input variance (uncentred)', r: 'input token correlation (uncentred)', Es2: 'E[silu(a)²]', Ess: 'E[silu(a_i)silu(a_j)]', Ed2: "E[silu'(a)²]", Edd: "E[silu'(a_i)silu'(a_j)]" },
    forward: {
      mean: [{ expr: '0' }],
      var: [{ expr: 'f*w2^2*Es2*d*w3^2*s/((1-p)*(1-ph))' }],
      r: [{ expr: 'Ess*r*(1-p)*(1-ph)/Es2' }],
    },
    backward: {
      gradVar: [{ expr: 'g*d*w2^2/((1-p)*(1-ph))*(f*w1^2*d*w3^2*s*Ed2 + f*w3^2*Es2)' }],
      gradR: [{ expr: 'rg*(1-p)*(1-ph)*(f*w1^2*d*w3^2*s*r*Edd + f*w3^2*Ess)/(f*w1^2*d*w3^2*s*Ed2 + f*w3^2*Es2)' }],
    },
  },
  kernel: {
    fwd(p, S, i, o) {
      const mu = S[i], s = S[i + 1], k = S[i + 3], c = o + R_C;
      const s1 = s + mu * mu;
      const r1 = uncentredR(mu, s, S[i + 2]);
      const sa = p.dModel * p.std1 * p.std1 * s1, sb = p.dModel * p.std3 * p.std3 * s1;
      activationMomentsInto(SILU, 0, sa, r1, S, c); // a = silu(xW1): [mean, var, r, E a², E silu′², E silu′silu′]
      S[c + 6] = sb; S[c + 7] = r1;
      const q2 = keep2(p);
      const ess = S[c + 1] * S[c + 2] + S[c] * S[c]; // E[silu(a_i) silu(a_j)]
      const v = (p.dFF * p.std2 * p.std2 * S[c + 3] * sb) / q2;
      const cov = p.dFF * p.std2 * p.std2 * ess * r1 * sb;
      // per-token dispersion: h² = silu(a)²b² with a, b iid over the dFF features given the token:
      // κ_h = (γ+1)²κ_in + (E[silu⁴]E[b⁴]/(E[silu²]E[b²])² − 1)/dFF (E[b⁴] = 3E[b²]²), then W2 adds 2/d
      const dsp = activationDispersion(SILU, 0, sa);
      const kin = k === k ? k : 2 / p.dModel;
      const kappa = (dsp.gamma + 1) ** 2 * kin + (3 * (dsp.ratio + 1) - 1) / p.dFF + 2 / p.dModel;
      setM(S, o, 0, v, v > 0 ? cov / v : 0, kappa, 1 / p.dModel, 1);
      setFAct(S, o); // pair fluctuations: Gaussian structure at κ (W2's Wishart part is exactly that)
    },
    bwd(p, S, _i, o, G, gi, go) {
      const c = o + R_C, sb = S[c + 6], r1 = S[c + 7];
      const q2 = keep2(p);
      const gh = (G[gi] * p.dModel * p.std2 * p.std2) / q2;
      const rgh = G[gi + 1] * q2;
      const ess = S[c + 1] * S[c + 2] + S[c] * S[c];
      const vA = p.dFF * p.std1 * p.std1 * sb * S[c + 4], vB = p.dFF * p.std3 * p.std3 * S[c + 3];
      const cA = p.dFF * p.std1 * p.std1 * r1 * sb * S[c + 5], cB = p.dFF * p.std3 * p.std3 * ess;
      setG(G, go, gh * (vA + vB), vA + vB > 0 ? (rgh * (cA + cB)) / (vA + vB) : 0);
    },
  },
});
