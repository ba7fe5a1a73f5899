/**
 * Causal stacks, theory (the position-resolved fold, src/causal.ts) against the TF.js harness
 * (verify/, an independent implementation of config v1) on wasm: d = 64, 4 heads, dFF 256,
 * seqLen 32, init 1/√d (ffn2 1/(2√d)), input r 0.2, batch 4, fixed seeds (1…K).
 *
 * Every entry (layer 0 forward and the injected top gradient excluded) must satisfy
 *   |pred − meas| ≤ max(floor, 3 × seed-to-seed std)       (relative for var and gradVar)
 * floors: var 5 %, gradVar 10 %, gradR 0.02, r 0.05. The r floor is wider than the harness's 0.02:
 * attention at d = 64 has an O(1/d) weight–value correlation the theory leaves out (its softmax
 * weights favour tokens whose private part is larger, which also carry larger values; Monte-Carlo
 * of one causal layer: mean pair correlation 0.885 vs 0.893 predicted at d = 64, 0.890 vs 0.893 at
 * d = 128), which accumulates to 0.03–0.045 at layers 3–6 of Pre-LN stacks.
 *
 * Spread when written (error/tolerance, worst entry): pre-LN 0.86, pre-RMSNorm SwiGLU 0.33,
 * pre-LN gelu_tanh + dropout 0.72, post-RMSNorm with input mean 0.51, post-LN (8 seeds) 0.57.
 * The position-averaged state these tests replaced had 9, 7, 9 and 16 of 48 entries outside the
 * same tolerance for the first four (gradR at layer 0 up to 3.3× tolerance, Post-LN gradR 13×;
 * 4 seeds) — so the tolerances separate the two theories.
 * Post-LN lower-layer gradients are heavy-tailed across seeds (log-std ≈ 0.6–0.7 at layers 0–5
 * over 24 seeds), hence 8 seeds for that case.
 */
import { describe, expect, it } from 'vitest';
import { resolveConfig } from '../src/config.js';
import { verifyConfig } from '../verify/run.js';

const S = 1 / 8;
const base = { dModel: 64, heads: 4, dFF: 256, seqLen: 32, causal: true, activation: 'relu', input: { r: 0.2 }, layers: 12, init: { qk: S, v: S, o: S, ffn1: S, ffn2: S / 2, ffn3: S } };
const FLOOR = { var: 0.05, r: 0.05, gradVar: 0.1, gradR: 0.02 } as const;
const REL = { var: true, r: false, gradVar: true, gradR: false } as const;
const K = 3;

const CASES: { name: string; seeds: number; cfg: Record<string, unknown> }[] = [
  { name: 'causal Pre-LN ReLU', seeds: 4, cfg: { ...base, norm: 'pre' } },
  { name: 'causal Pre-RMSNorm SwiGLU', seeds: 4, cfg: { ...base, norm: 'pre', normKind: 'rmsnorm', activation: 'swiglu' } },
  { name: 'causal Pre-LN gelu_tanh, dropout 0.1', seeds: 4, cfg: { ...base, norm: 'pre', activation: 'gelu_tanh', dropout: 0.1 } },
  { name: 'causal Post-RMSNorm ReLU, input mean 0.5', seeds: 4, cfg: { ...base, norm: 'post', normKind: 'rmsnorm', input: { mean: 0.5, var: 2, r: 0.1 } } },
  { name: 'causal Post-LN ReLU', seeds: 8, cfg: { ...base, norm: 'post' } },
];

describe('causal stacks: position-resolved theory vs the TF.js harness (wasm)', () => {
  for (const c of CASES) {
    it(c.name, async () => {
      const cfg = resolveConfig(c.cfg);
      const res = await verifyConfig(cfg, { backend: 'wasm', seeds: c.seeds, batch: 4, workers: 2 });
      expect(res.seeds).toBe(c.seeds);
      const bad: string[] = [];
      for (const row of res.layers) {
        for (const q of ['var', 'r', 'gradVar', 'gradR'] as const) {
          if (row.layer === 0 && (q === 'var' || q === 'r')) continue;
          if (row.layer === cfg.layers && (q === 'gradVar' || q === 'gradR')) continue;
          const m = row.measured[q], p = row.predicted[q];
          expect(m, `${q}@${row.layer} measured`).not.toBeNull();
          expect(p, `${q}@${row.layer} predicted`).not.toBeNull();
          const err = REL[q] ? Math.abs(p! - m![0]) / Math.abs(m![0]) : Math.abs(p! - m![0]);
          const tol = Math.max(FLOOR[q], K * (REL[q] ? m![1] / Math.abs(m![0]) : m![1]));
          if (!(err <= tol)) bad.push(`${q}@${row.layer}: predicted ${p!.toPrecision(4)}, measured ${m![0].toPrecision(4)} ± ${m![1].toPrecision(2)} (error ${err.toPrecision(3)} > ${tol.toPrecision(3)})`);
        }
      }
      expect(bad).toEqual([]);
    }, 240_000);
  }
});
