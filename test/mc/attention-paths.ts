/**
 * Float64 Monte-Carlo of one attention layer (W_q, W_k, W_v, W_o iid Gaussian, no biases, no
 * dropout) that keeps the three backward paths apart: the input gradient is dX = dQ W_qᵀ + dK W_kᵀ
 * + dV W_vᵀ, and each term's variance (over tokens and features, centred at its own mean) is
 * reported per trial, with the forward output variance. Inputs and upstream gradients as
 * correlatedTokens (shared part √r·a per sequence and feature). Written out by hand like
 * blocks.ts's attentionTrial; nothing here imports the code under test.
 * Two calls with the same seed draw the same inputs, weights and gradient normals (the gradient's
 * correlation r_g only changes how they are combined), so differences between r_g values are
 * common-random-number differences.
 */
import { Rng } from './rng.js';
import { correlatedTokens, matmul, matmulBT } from './tensor.js';

export interface PathTrial { var: number; V: number; Q: number; K: number }

function centredVar(a: Float64Array): number {
  let m = 0;
  for (let i = 0; i < a.length; i++) m += a[i];
  m /= a.length;
  let s = 0;
  for (let i = 0; i < a.length; i++) s += (a[i] - m) ** 2;
  return s / a.length;
}

export interface PathCase { d: number; heads: number; L: number; scoreVar: number; r: number; rg: number; causal: boolean; B: number }

/** One trial's draws (inputs, the four weight matrices, the upstream gradient, in that order from
 * `tr`) and the layer's output Y with the three paths' input gradients g^V = dV W_vᵀ, g^Q = dQ W_qᵀ,
 * g^K = dK W_kᵀ (B·L tokens × d features, row-major). */
export interface PathDraw { Y: Float64Array; gV: Float64Array; gQ: Float64Array; gK: Float64Array }
export function attentionPathTrial(c: PathCase, tr: Rng): PathDraw {
  const { d, heads: H, L: T, B, causal } = c, dh = d / H, M = B * T, sc = 1 / Math.sqrt(dh);
  const w = Math.pow(c.scoreVar, 0.25) / Math.sqrt(d), wv = 1 / Math.sqrt(d);
  const X = correlatedTokens(tr, B, T, d, { mean: 0, var: 1, r: c.r });
  const Wq = tr.normals(d * d, w), Wk = tr.normals(d * d, w), Wv = tr.normals(d * d, wv), Wo = tr.normals(d * d, wv);
  const Q = matmul(X, Wq, M, d, d), K = matmul(X, Wk, M, d, d), V = matmul(X, Wv, M, d, d);
  const G = correlatedTokens(tr, B, T, d, { mean: 0, var: 1, r: c.rg });
  const dO = matmulBT(G, Wo, M, d, d);
  const O = new Float64Array(M * d), dQ = new Float64Array(M * d), dK = new Float64Array(M * d), dV = new Float64Array(M * d);
  const P = new Float64Array(T), dP = new Float64Array(T);
  for (let b = 0; b < B; b++) for (let h = 0; h < H; h++) for (let i = 0; i < T; i++) {
    const qi = (b * T + i) * d + h * dh, jm = causal ? i : T - 1;
    let mx = -Infinity;
    for (let j = 0; j <= jm; j++) {
      const kj = (b * T + j) * d + h * dh;
      let z = 0;
      for (let f = 0; f < dh; f++) z += Q[qi + f] * K[kj + f];
      P[j] = z * sc; if (P[j] > mx) mx = P[j];
    }
    let Z = 0;
    for (let j = 0; j <= jm; j++) { P[j] = Math.exp(P[j] - mx); Z += P[j]; }
    let rd = 0;
    for (let j = 0; j <= jm; j++) {
      P[j] /= Z;
      const vj = (b * T + j) * d + h * dh;
      let dp = 0;
      for (let f = 0; f < dh; f++) { O[qi + f] += P[j] * V[vj + f]; dp += dO[qi + f] * V[vj + f]; dV[vj + f] += P[j] * dO[qi + f]; }
      dP[j] = dp; rd += P[j] * dp;
    }
    for (let j = 0; j <= jm; j++) {
      const ds = P[j] * (dP[j] - rd) * sc, kj = (b * T + j) * d + h * dh;
      for (let f = 0; f < dh; f++) { dQ[qi + f] += ds * K[kj + f]; dK[kj + f] += ds * Q[qi + f]; }
    }
  }
  return { Y: matmul(O, Wo, M, d, d), gV: matmulBT(dV, Wv, M, d, d), gQ: matmulBT(dQ, Wq, M, d, d), gK: matmulBT(dK, Wk, M, d, d) };
}

/** per-trial results of `trials` independent trials (fresh weights each) */
export function attentionPathsMC(c: PathCase, trials: number, seed: number): PathTrial[] {
  const rng = new Rng(seed);
  const out: PathTrial[] = [];
  for (let t = 0; t < trials; t++) {
    const { Y, gV, gQ, gK } = attentionPathTrial(c, rng.fork());
    out.push({ var: centredVar(Y), V: centredVar(gV), Q: centredVar(gQ), K: centredVar(gK) });
  }
  return out;
}

/** mean and standard error of the mean of xs */
export function meanSe(xs: number[]): { mean: number; se: number } {
  const n = xs.length, m = xs.reduce((a, x) => a + x, 0) / n;
  const v = n > 1 ? xs.reduce((a, x) => a + (x - m) ** 2, 0) / (n - 1) : 0;
  return { mean: m, se: Math.sqrt(v / n) };
}
