/**
 * The POOLED gradient token correlation of non-causal attention (ΣCov/ΣVar, what the engine
 * propagates through a stack: `attention.backward(...).r`) against the Monte-Carlo simulator
 * (test/mc/, which does not import the code under test). formulas-mc.test.ts checks the per-pair
 * statistic that `component` reports; this file checks the propagated one, whose O(1/L)
 * covariance terms (formulas/attention.ts: the K-path gradients sum to zero over the tokens, the
 * column sums add up to L) compound over the layers of a λ/β stack (issue 4: ~0.003 of 0.076 on the
 * lowest-layer gradR of the d = 64, L = 32 λ/β Pre-LN stack).
 *
 * Tolerance fixed before looking at the results, as in formulas-mc.test.ts: max(0.01 absolute,
 * 4 × MC standard error of the per-trial pooled ratio). Seeds fixed (reproducible). Before the
 * fix (covariance without the two identities) the σ_s² = 25 case fails: 0.086 vs MC 0.049 ± 0.004
 * (the σ_s² = 4 cases moved by 0.016–0.027 toward the MC mean, inside their 4·SE tolerance).
 * The σ_s² = 1, L = 32, h = 4 case is the stack's own operating point (r ≈ 0.2, r_g ≈ 0.044).
 * Until the Q path carried its coherent key–value term (values and keys are maps of the same token)
 * its pooled ratio was a little high (≈ 0.367 vs ≈ 0.342 in a numpy MC) and only the covariance was
 * compared there; now the ratio itself is, like the other cases.
 */
import { describe, expect, it } from 'vitest';
import type { GradIn, In } from './mc/blocks.js';
import { runAttentionCase } from './mc/attention-case.js';


interface Case { name: string; L: number; heads: number; scoreVar: number; x: In; g: GradIn; trials: number; seed: number }
const cases: Case[] = [
  { name: 'h=1 σ_s²=4 r=0 r_g=0.8 L=16', L: 16, heads: 1, scoreVar: 4, x: { mean: 0, var: 1, r: 0 }, g: { var: 1, r: 0.8 }, trials: 40, seed: 9101 },
  { name: 'h=1 σ_s²=4 r=0.9 r_g=0.3 L=16', L: 16, heads: 1, scoreVar: 4, x: { mean: 0, var: 1, r: 0.9 }, g: { var: 2, r: 0.3 }, trials: 40, seed: 9102 },
  { name: 'h=4 σ_s²=25 r=0.5 r_g=0.3 L=16', L: 16, heads: 4, scoreVar: 25, x: { mean: 0, var: 1, r: 0.5 }, g: { var: 2, r: 0.3 }, trials: 40, seed: 9103 },
  { name: 'h=4 σ_s²=1 r=0.2 r_g=0 L=32 (λ/β stack operating point)', L: 32, heads: 4, scoreVar: 1, x: { mean: 0, var: 1, r: 0.2 }, g: { var: 1, r: 0 }, trials: 24, seed: 9104 },
];

describe('attention pooled gradient correlation vs Monte-Carlo', () => {
  for (const c of cases) {
    it(c.name, () => {
      const { b, m } = runAttentionCase(c);
      const tol = Math.max(0.01, 4 * m.gradRPooled.se);
      expect(Math.abs(b.r - m.gradRPooled.mean), `pooled r pred ${b.r.toFixed(4)} MC ${m.gradRPooled.mean.toFixed(4)} ± ${m.gradRPooled.se.toFixed(4)}`).toBeLessThanOrEqual(tol);
    });
  }
});
