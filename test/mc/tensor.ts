/**
 * Dense float64 helpers for the Monte-Carlo simulator: row-major matrices, the three matmul
 * shapes backprop needs, the correlated-token input generator and the exact statistics.
 *
 * Layout of an activation tensor: x[(b·T + t)·D + f] for B sequences of T tokens of D features.
 */
import type { Rng } from './rng.js';

/** C[M×N] = A[M×K] · B[K×N] */
export function matmul(A: Float64Array, B: Float64Array, M: number, K: number, N: number): Float64Array {
  const C = new Float64Array(M * N);
  for (let i = 0; i < M; i++) {
    const ci = i * N, ai = i * K;
    for (let k = 0; k < K; k++) {
      const a = A[ai + k];
      if (a === 0) continue;
      const bk = k * N;
      for (let j = 0; j < N; j++) C[ci + j] += a * B[bk + j];
    }
  }
  return C;
}

/** C[M×N] = A[M×K] · B[N×K]ᵀ */
export function matmulBT(A: Float64Array, B: Float64Array, M: number, K: number, N: number): Float64Array {
  const C = new Float64Array(M * N);
  for (let i = 0; i < M; i++) {
    const ai = i * K, ci = i * N;
    for (let j = 0; j < N; j++) {
      const bj = j * K;
      let s = 0;
      for (let k = 0; k < K; k++) s += A[ai + k] * B[bj + k];
      C[ci + j] = s;
    }
  }
  return C;
}

/**
 * Tokens with the requested moments: x_{b,t,f} = mean + √var·(√r·a_{b,f} + √(1−r)·e_{b,t,f}),
 * a shared by all tokens of sequence b (per feature), a and e iid N(0, 1). r must be in [0, 1].
 */
export function correlatedTokens(rng: Rng, B: number, T: number, D: number, m: { mean: number; var: number; r: number }): Float64Array {
  if (m.r < 0 || m.r > 1) throw new Error('correlatedTokens: r must be in [0, 1]');
  const x = new Float64Array(B * T * D);
  const sd = Math.sqrt(m.var), sr = Math.sqrt(m.r), sp = Math.sqrt(1 - m.r);
  const a = new Float64Array(D);
  for (let b = 0; b < B; b++) {
    for (let f = 0; f < D; f++) a[f] = rng.normal();
    for (let t = 0; t < T; t++) {
      const o = (b * T + t) * D;
      for (let f = 0; f < D; f++) x[o + f] = m.mean + sd * (sr * a[f] + sp * rng.normal());
    }
  }
  return x;
}

export interface TensorStats {
  mean: number;
  var: number;
  /** mean over sequences and token pairs i≠j of the Pearson correlation across features, after
   * removing the global mean (the definition of config v1) */
  r: number;
  /** diagnostic only: Σ_pairs ⟨c_i, c_j⟩ / Σ_pairs ½(|c_i|² + |c_j|²) (ratio of sums) */
  rPooled: number;
}

/** Exact statistics of one tensor [B, T, D]. */
export function tensorStats(x: Float64Array, B: number, T: number, D: number): TensorStats {
  const n = x.length;
  let s = 0;
  for (let i = 0; i < n; i++) s += x[i];
  const m = s / n;
  let ss = 0;
  for (let i = 0; i < n; i++) { const c = x[i] - m; ss += c * c; }
  const v = ss / n;
  let rSum = 0, pairs = 0, dotSum = 0, sqSum = 0;
  const norms = new Float64Array(T);
  for (let b = 0; b < B; b++) {
    const base = b * T * D;
    for (let t = 0; t < T; t++) {
      let q = 0;
      const o = base + t * D;
      for (let f = 0; f < D; f++) { const c = x[o + f] - m; q += c * c; }
      norms[t] = q;
    }
    for (let i = 0; i < T; i++) {
      const oi = base + i * D;
      for (let j = i + 1; j < T; j++) {
        const oj = base + j * D;
        let dot = 0;
        for (let f = 0; f < D; f++) dot += (x[oi + f] - m) * (x[oj + f] - m);
        const den = Math.sqrt(norms[i] * norms[j]);
        rSum += den > 0 ? dot / den : 0;
        dotSum += dot; sqSum += 0.5 * (norms[i] + norms[j]);
        pairs++;
      }
    }
  }
  return { mean: m, var: v, r: pairs ? rSum / pairs : 0, rPooled: sqSum > 0 ? dotSum / sqSum : 0 };
}

// ---------------------------------------------------------------- special functions (independent of src/)

/** erf by Numerical Recipes' Chebyshev fit of erfc (fractional error < 1.2e-7): far below MC noise. */
export function erf(x: number): number {
  const z = Math.abs(x);
  const t = 1 / (1 + 0.5 * z);
  const ans = t * Math.exp(-z * z - 1.26551223 + t * (1.00002368 + t * (0.37409196 + t * (0.09678418 + t * (-0.18628806 + t * (0.27886807 + t * (-1.13520398 + t * (1.48851587 + t * (-0.82215223 + t * 0.17087277)))))))));
  return x >= 0 ? 1 - ans : ans - 1;
}

export const Phi = (x: number): number => 0.5 * (1 + erf(x / Math.SQRT2));
export const phi = (x: number): number => Math.exp(-0.5 * x * x) / Math.sqrt(2 * Math.PI);
