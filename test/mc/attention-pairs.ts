/**
 * Float64 Monte-Carlo of one attention layer that keeps the three backward paths apart (as
 * attention-paths.ts: dX = dQ W_qᵀ + dK W_kᵀ + dV W_vᵀ, same draws for the same seed) and reports,
 * besides the per-path variances, what the gradient correlation is made of:
 *  - pooled per-path covariance between distinct tokens of a sequence, Σ_{j≠l} g^P_j·g^P_l over
 *    pairs and features (uncentred: the gradients have mean 0);
 *  - per position and per pair of positions (causal rows differ by position) the Q path's mean
 *    square E|g^Q_j|²/d and covariance E[g^Q_j·g^Q_l]/d, averaged over trials and sequences;
 *  - config v1's per-pair statistic (mean over pairs of the Pearson correlation across features,
 *    global mean removed as tensorStats) and its split into path pairs: the mean over pairs of
 *    g^P_j·g^{P′}_l/(|g_j||g_l|) for P, P′ ∈ {V, Q, K} (symmetrised), whose sum is the per-pair
 *    mean of the uncentred gradients.
 * Nothing here imports the code under test.
 */
import { Rng } from './rng.js';
import { attentionPathTrial, type PathCase } from './attention-paths.js';

export interface PairTrial {
  /** per-path variance (per feature, over tokens) */
  varV: number; varQ: number; varK: number;
  /** pooled per-path covariance of distinct tokens of a sequence (per feature) */
  covV: number; covQ: number; covK: number;
  /** config v1's per-pair mean of the whole gradient (global mean removed) */
  pairR: number;
  /** per-pair mean split into path pairs: [VV, QQ, KK, VQ, VK, QK] (cross terms counted twice) */
  split: number[];
  /** Q path per position: E|g^Q_j|²/d (length L) and per pair E[g^Q_j·g^Q_l]/d (L×L, j < l filled) */
  qVar: Float64Array; qCov: Float64Array;
}

/** per-trial results of `trials` independent trials (fresh weights each) */
export function attentionPairsMC(c: PathCase, trials: number, seed: number): PairTrial[] {
  const { d, L: T, B } = c, M = B * T;
  const rng = new Rng(seed);
  const out: PairTrial[] = [];
  for (let t = 0; t < trials; t++) {
    const { gV: gv, gQ: gq, gK: gk } = attentionPathTrial(c, rng.fork());
    const gs = [gv, gq, gk];
    const tot = new Float64Array(M * d);
    let mean = 0;
    for (let a = 0; a < M * d; a++) { tot[a] = gv[a] + gq[a] + gk[a]; mean += tot[a]; }
    mean /= M * d;
    const dot = (x: Float64Array, ox: number, y: Float64Array, oy: number) => { let s = 0; for (let f = 0; f < d; f++) s += x[ox + f] * y[oy + f]; return s; };
    const vars = [0, 0, 0], covs = [0, 0, 0], split = [0, 0, 0, 0, 0, 0];
    const qVar = new Float64Array(T), qCov = new Float64Array(T * T);
    let pr = 0, np = 0, ncov = 0;
    const nrmU = new Float64Array(T), nrmC = new Float64Array(T);
    for (let b = 0; b < B; b++) {
      for (let j = 0; j < T; j++) {
        const oj = (b * T + j) * d;
        for (let p = 0; p < 3; p++) vars[p] += dot(gs[p], oj, gs[p], oj);
        qVar[j] += dot(gq, oj, gq, oj) / (d * B);
        nrmU[j] = Math.sqrt(dot(tot, oj, tot, oj));
        let s = 0; for (let f = 0; f < d; f++) s += (tot[oj + f] - mean) ** 2;
        nrmC[j] = Math.sqrt(s);
      }
      for (let j = 0; j < T; j++) for (let l = j + 1; l < T; l++) {
        const oj = (b * T + j) * d, ol = (b * T + l) * d;
        for (let p = 0; p < 3; p++) covs[p] += dot(gs[p], oj, gs[p], ol);
        ncov++;
        const qq = dot(gq, oj, gq, ol);
        qCov[j * T + l] += qq / (d * B);
        let s = 0; for (let f = 0; f < d; f++) s += (tot[oj + f] - mean) * (tot[ol + f] - mean);
        pr += nrmC[j] > 0 && nrmC[l] > 0 ? s / (nrmC[j] * nrmC[l]) : 0;
        const den = nrmU[j] * nrmU[l];
        if (den > 0) {
          split[0] += dot(gv, oj, gv, ol) / den; split[1] += qq / den; split[2] += dot(gk, oj, gk, ol) / den;
          split[3] += (dot(gv, oj, gq, ol) + dot(gq, oj, gv, ol)) / den;
          split[4] += (dot(gv, oj, gk, ol) + dot(gk, oj, gv, ol)) / den;
          split[5] += (dot(gq, oj, gk, ol) + dot(gk, oj, gq, ol)) / den;
        }
        np++;
      }
    }
    out.push({
      varV: vars[0] / (M * d), varQ: vars[1] / (M * d), varK: vars[2] / (M * d),
      covV: covs[0] / (ncov * d), covQ: covs[1] / (ncov * d), covK: covs[2] / (ncov * d),
      pairR: pr / np, split: split.map((x) => x / np), qVar, qCov,
    });
  }
  return out;
}
