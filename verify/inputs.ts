/**
 * Sampling of activations and gradients with prescribed moments: Gaussian, iid across features,
 * every entry with the given mean and variance, two different tokens of one sequence correlated
 * entry-wise with coefficient r.
 *   r ≥ 0:  x_t = mean + √var·(√r·a + √(1−r)·e_t)      (a shared by the sequence)
 *   r < 0:  x_t = mean + √var·c·(e_t + κ·ē)            (ē the token average of the e_t)
 * with κ = √(1+u) − 1, u = rL/(1−r), c = 1/√(1 + (2κ+κ²)/L): the centred construction; it reaches
 * every r ≥ −1/(L−1), the smallest correlation L exchangeable tokens can have.
 */
import type { Rng } from './rng.js';

export interface Dist { mean: number; var: number; r: number }


/** [batch, tokens, width] row-major samples. */
export function sampleSequences(rng: Rng, batch: number, tokens: number, width: number, dist: Dist): Float32Array {
  const out = new Float32Array(batch * tokens * width);
  const sd = Math.sqrt(Math.max(dist.var, 0));
  const r = Math.min(1, dist.r);
  const shared = new Float64Array(width);
  if (r >= 0) {
    const a = Math.sqrt(r), b = Math.sqrt(1 - r);
    for (let s = 0; s < batch; s++) {
      for (let f = 0; f < width; f++) shared[f] = rng.normal();
      for (let t = 0; t < tokens; t++) {
        const o = (s * tokens + t) * width;
        for (let f = 0; f < width; f++) out[o + f] = dist.mean + sd * (a * shared[f] + b * rng.normal());
      }
    }
    return out;
  }
  const L = tokens;
  const u = Math.max((r * L) / (1 - r), -1);
  const kappa = Math.sqrt(1 + u) - 1;
  const c = 1 / Math.sqrt(1 + (2 * kappa + kappa * kappa) / L);
  const e = new Float64Array(tokens * width);
  for (let s = 0; s < batch; s++) {
    shared.fill(0);
    for (let t = 0; t < tokens; t++) for (let f = 0; f < width; f++) { const z = rng.normal(); e[t * width + f] = z; shared[f] += z / L; }
    for (let t = 0; t < tokens; t++) {
      const o = (s * tokens + t) * width;
      for (let f = 0; f < width; f++) out[o + f] = dist.mean + sd * c * (e[t * width + f] + kappa * shared[f]);
    }
  }
  return out;
}
