/** One attention component case run both ways: the formulas (forward and backward) and the
 * Monte-Carlo simulator of this folder (which does not import the code under test). d = 64,
 * stdV = stdO = 1/√d, stdQ = stdK set from the score variance σ_s² = d²σ_q²σ_k²s′². */
import { attention } from '../../formulas/attention.js';
import { monteCarlo, type GradIn, type In } from './blocks.js';

export const D_ATT = 64;
export interface AttentionCase { L: number; heads: number; scoreVar: number; x: In; g: GradIn; trials: number; seed: number }

export function runAttentionCase(c: AttentionCase) {
  const w = Math.pow(c.scoreVar, 0.25) / Math.sqrt(D_ATT * (c.x.var + c.x.mean * c.x.mean));
  const p = { dModel: D_ATT, heads: c.heads, stdQ: w, stdK: w, stdV: 1 / Math.sqrt(D_ATT), stdO: 1 / Math.sqrt(D_ATT), seqLen: c.L };
  const f = attention.forward(p, c.x);
  const b = attention.backward(p, c.x, f, c.g);
  const m = monteCarlo('attention', p, c.x, c.g, { B: 2, T: c.L, D: 0 }, c.trials, c.seed);
  return { p, f, b, m };
}
