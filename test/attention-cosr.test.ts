/**
 * The attention component's reported forward r is config v1's statistic, the mean over token pairs
 * of the per-pair cosine, not the population ratio E[o_i·o_j]/E|o_i|² the engine propagates
 * (formulas/attention-cos.ts: the ratio times E[B̄^{−1/2}]²E[B̄], B = b0 + b1·Σ_k P_ik² per head, with
 * E[S^{−1/2}] exact by a Laplace integral and a lognormal law of S matched on it).
 * Checked against the float64 Monte-Carlo of test/mc (it does not import the code under test), whose
 * `r` is that per-pair mean and `rPooled` the pooled ratio: d = 64, stdV = stdO = 1/√d, r = 0, B = 2
 * sequences per trial, 300 trials, seed 5201, at the points where the two statistics differ most
 * (one head, where the rows' concentration does not average over heads) and one at four heads.
 * Rule, fixed before the run: (1) |reported − MC r| ≤ 0.02 + 4 se (the 8192-trial target band plus
 * the MC's noise), and (2) the reported r is closer to the MC's per-pair mean than the population
 * ratio (the engine's r) is, by at least 2 se.
 * Numbers when written (reported / population ratio vs MC r ± se; the MC's pooled ratio):
 *   h = 1, L = 32, σ_s² = 1: 0.3860 / 0.3644 vs 0.3969 ± 0.0031 (pooled 0.3602)
 *   h = 1, L = 32, σ_s² = 3: 0.1885 / 0.1615 vs 0.1936 ± 0.0022 (pooled 0.1598)
 *   h = 4, L = 32, σ_s² = 3: 0.1840 / 0.1758 vs 0.1842 ± 0.0022 (pooled 0.1716)
 *   h = 1, L = 32, σ_s² = 3, causal: 0.1940 / 0.1713 vs 0.1953 ± 0.0023 (pooled 0.1668)
 */
import { describe, expect, it } from 'vitest';
import { attention } from '../formulas/attention.js';
import { component } from '../src/component.js';
import { monteCarlo } from './mc/blocks.js';

const d = 64, trials = 300, seed = 5201, K = 4;
const cases = [
  { heads: 1, L: 32, sigS: 1, causal: false },
  { heads: 1, L: 32, sigS: 3, causal: false },
  { heads: 4, L: 32, sigS: 3, causal: false },
  { heads: 1, L: 32, sigS: 3, causal: true },
];

describe('attention reported r (mean per-pair cosine) vs a float64 Monte-Carlo', () => {
  for (const c of cases) {
    it(`h = ${c.heads}, L = ${c.L}, σ_s² = ${c.sigS}${c.causal ? ', causal' : ''}`, () => {
      const w = Math.pow(c.sigS, 0.25) / Math.sqrt(d);
      const params = { dModel: d, heads: c.heads, stdQ: w, stdK: w, stdV: 1 / Math.sqrt(d), stdO: 1 / Math.sqrt(d), seqLen: c.L, causal: c.causal };
      const x = { mean: 0, var: 1, r: 0 }, g = { var: 1, r: 0 };
      const rep = component({ block: 'attention', params, input: x, grad: g }).r as number;
      const pop = attention.forward(params, x).out.r; // the population ratio the engine propagates
      const m = monteCarlo('attention', params, x, g, { B: 2, T: c.L, D: 0 }, trials, seed);
      const mc = m.r.mean, se = m.r.se;
      const msg = `reported ${rep.toFixed(4)} population ${pop.toFixed(4)} MC ${mc.toFixed(4)} ± ${se.toFixed(4)} (pooled ${m.rPooled.mean.toFixed(4)})`;
      expect(Math.abs(rep - mc), msg).toBeLessThanOrEqual(0.02 + K * se);
      expect(Math.abs(rep - mc), msg).toBeLessThanOrEqual(Math.abs(pop - mc) - 2 * se);
    }, 300_000);
  }
});
