/**
 * The attention Q path's two-row covariance at small head dimension (issue 4; formulas/attention.ts
 * qPathCovGain): the non-causal kernel's Q covariance cq1·r_g against the Q path's pooled covariance
 * of distinct tokens of a sequence in the path-resolved float64 MC (test/mc/attention-pairs.ts,
 * d = 64, σ_v = σ_o = 1/√d, r_g = 1 so that the r_g-free part, 0 in the model and 0.0001 ± 0.0005
 * measured at (16, 32, 30, 0.5, r_g = 0), does not dilute it; 30 trials of B = 4 sequences).
 * Tolerance: 3 MC standard errors + 4 % (the plane term S taken as 2D·T/J: sampled S/(2D) differs
 * from T/J by up to ~0.2 at moderate ρ, i.e. up to ~4 % of the covariance at f = 0.27; the former
 * E[D] + coh was 12 s.e. high at (16, 32, 30, 0.5): 0.282 vs 0.170 ± 0.009, checked below to fail).
 */
import { describe, expect, it } from 'vitest';
import { attention } from '../formulas/attention.js';
import { R_C } from '../formulas/_core.js';
import { meanSe } from './mc/attention-paths.js';
import { attentionPairsMC } from './mc/attention-pairs.js';

const d = 64;
function modelCov(heads: number, L: number, sv: number, r: number): number {
  const w = Math.pow(sv, 0.25) / Math.sqrt(d);
  const p = { dModel: d, heads, stdQ: w, stdK: w, stdV: 1 / Math.sqrt(d), stdO: 1 / Math.sqrt(d), seqLen: L };
  const f = attention.forward(p, { mean: 0, var: 1, r });
  return (f.cache as unknown as Float64Array)[R_C + 6]; // cq1 (× r_g = 1)
}

describe('Q-path covariance of distinct tokens vs per-path MC (non-causal, r_g = 1)', () => {
  for (const [h, L, sv, r, former] of [[16, 32, 30, 0.5, true], [16, 32, 10, 0.5, false], [16, 32, 30, 0, false], [16, 128, 10, 0.5, false]] as const) {
    it(`h=${h} L=${L} σ_s²=${sv} r=${r}`, () => {
      const res = attentionPairsMC({ d, heads: h, L, scoreVar: sv, r, rg: 1, causal: false, B: 4 }, 30, 12345);
      const { mean, se } = meanSe(res.map((t) => t.covQ));
      const m = modelCov(h, L, sv, r);
      const tol = 3 * se + 0.04 * mean;
      expect(Math.abs(m - mean)).toBeLessThan(tol);
      if (former) expect(0.282 - mean).toBeGreaterThan(tol); // the former E[D] + coh (printed above)
    }, 60000);
  }
});
