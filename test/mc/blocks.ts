/**
 * Direct simulation of every block of the component contract (src/component.ts), forward and
 * backward, with the backward of each block written out by hand (matmuls, softmax Jacobian,
 * LayerNorm/RMSNorm Jacobians, dropout masks, activation derivatives).
 *
 * One trial: draw input tokens with the requested (mean, var, r) (see correlatedTokens), fresh
 * random weights, run the block, inject an upstream gradient G with the requested (var, r) drawn
 * the same way (mean 0), backpropagate to the input, and measure the statistics of the output
 * (mean, var, r) and of the input gradient (gradVar, gradR) with the exact definitions of
 * tensorStats. Nothing here imports the code under test.
 */
import { Rng } from './rng.js';
import { correlatedTokens, erf, matmul, matmulBT, phi, tensorStats } from './tensor.js';

export interface In { mean: number; var: number; r: number }
export interface GradIn { var: number; r: number }
export interface Shape {
  /** sequences per trial */
  B: number;
  /** tokens per sequence (attention: seqLen) */
  T: number;
  /** features, for blocks whose width is not a parameter (activations, dropout) */
  D: number;
}

export interface TrialResult {
  mean: number; var: number; r: number; gradVar: number; gradR: number;
  rPooled: number; gradRPooled: number;
}

export type P = Record<string, any>;

// ---------------------------------------------------------------- activations (own definitions)

const K_TANH = Math.sqrt(2 / Math.PI);
const sig = (x: number): number => 1 / (1 + Math.exp(-x));

export const ACT: Record<string, { f: (x: number) => number; df: (x: number) => number }> = {
  relu: { f: (x) => (x > 0 ? x : 0), df: (x) => (x > 0 ? 1 : 0) },
  gelu: {
    f: (x) => 0.5 * x * (1 + erf(x / Math.SQRT2)),
    df: (x) => 0.5 * (1 + erf(x / Math.SQRT2)) + x * phi(x),
  },
  gelu_tanh: {
    f: (x) => 0.5 * x * (1 + Math.tanh(K_TANH * (x + 0.044715 * x * x * x))),
    df: (x) => {
      const u = K_TANH * (x + 0.044715 * x * x * x), t = Math.tanh(u);
      return 0.5 * (1 + t) + 0.5 * x * (1 - t * t) * K_TANH * (1 + 3 * 0.044715 * x * x);
    },
  },
  silu: { f: (x) => x * sig(x), df: (x) => { const s = sig(x); return s + x * s * (1 - s); } },
};

function actName(block: string, p: P): string {
  if (block === 'gelu') return p.approximate === 'tanh' ? 'gelu_tanh' : 'gelu';
  return block;
}

// ---------------------------------------------------------------- helpers

function dropMask(rng: Rng, n: number, p: number): Float64Array {
  const m = new Float64Array(n);
  const keep = 1 / (1 - p);
  for (let i = 0; i < n; i++) m[i] = rng.uniform() >= p ? keep : 0;
  return m;
}

function mulInto(a: Float64Array, b: Float64Array): Float64Array {
  const c = new Float64Array(a.length);
  for (let i = 0; i < a.length; i++) c[i] = a[i] * b[i];
  return c;
}

/** The tensors of one trial: output Y [B,T,Dy], upstream gradient G (same shape), input gradient dX [B,T,Dx]. */
export interface Raw { Y: Float64Array; G: Float64Array; dX: Float64Array; B: number; T: number; Dy: number; Dx: number }

function result(Y: Float64Array, dX: Float64Array, B: number, T: number, Dy: number, Dx: number, G: Float64Array): Raw {
  return { Y, G, dX, B, T, Dy, Dx };
}

/** Optional perturbation of one input entry (finite-difference check of the hand-written backward):
 * every random draw happens in the same order, so a rerun with the same seed differs only there. */
export interface Perturb { index: number; h: number }

function inputTokens(rng: Rng, B: number, T: number, D: number, m: In, pt?: Perturb): Float64Array {
  const X = correlatedTokens(rng, B, T, D, m);
  if (pt) X[pt.index] += pt.h;
  return X;
}

const gradTokens = (rng: Rng, B: number, T: number, D: number, g: GradIn) => correlatedTokens(rng, B, T, D, { mean: 0, var: g.var, r: g.r });

// ---------------------------------------------------------------- blocks

function linearTrial(rng: Rng, p: P, x: In, g: GradIn, s: Shape, pt?: Perturb): Raw {
  const { B, T } = s, M = B * T, dIn = p.dIn, dOut = p.dOut;
  const X = inputTokens(rng, B, T, dIn, x, pt);
  const W = rng.normals(dIn * dOut, p.std);
  const bias = rng.normals(dOut, p.biasStd ?? 0);
  const Y = matmul(X, W, M, dIn, dOut);
  for (let i = 0; i < M; i++) for (let j = 0; j < dOut; j++) Y[i * dOut + j] += bias[j];
  const G = gradTokens(rng, B, T, dOut, g);
  const dX = matmulBT(G, W, M, dOut, dIn); // dX = G Wᵀ
  return result(Y, dX, B, T, dOut, dIn, G);
}

/** token ids: uniform over the vocabulary or Zipf(a) (p_k ∝ k^−a, k = 1..V), by inverse CDF */
function tokenSampler(p: P): (rng: Rng) => number {
  const V = p.vocab;
  if ((p.tokens ?? 'uniform') === 'uniform') return (rng) => Math.min(V - 1, Math.floor(rng.uniform() * V));
  const a = p.zipfExponent ?? 1;
  const cdf = new Float64Array(V);
  let acc = 0;
  for (let k = 0; k < V; k++) { acc += Math.pow(k + 1, -a); cdf[k] = acc; }
  for (let k = 0; k < V; k++) cdf[k] /= acc;
  return (rng) => {
    const u = rng.uniform();
    let lo = 0, hi = V - 1;
    while (lo < hi) { const mid = (lo + hi) >> 1; if (cdf[mid] > u) hi = mid; else lo = mid + 1; }
    return lo;
  };
}

function embeddingTrial(rng: Rng, p: P, _x: In, g: GradIn, s: Shape, pt?: Perturb): Raw {
  const { B, T, D } = s;
  const draw = tokenSampler(p);
  const rows = new Map<number, Float64Array>(); // token table rows, drawn lazily (iid per row)
  const pos: Float64Array[] = Array.from({ length: T }, () => rng.normals(D, p.posStd ?? 0));
  const typ = rng.normals(D, p.typeStd ?? 0); // one segment: token type 0 everywhere
  const Y = new Float64Array(B * T * D);
  for (let b = 0; b < B; b++) for (let t = 0; t < T; t++) {
    const id = draw(rng);
    let row = rows.get(id);
    if (!row) { row = rng.normals(D, p.std); rows.set(id, row); }
    const o = (b * T + t) * D;
    for (let f = 0; f < D; f++) Y[o + f] = row[f] + pos[t][f] + typ[f];
  }
  // the gradient at the embedding output is the upstream gradient itself
  const G = gradTokens(rng, B, T, D, g);
  return result(Y, G, B, T, D, D, G);
}

function activationTrial(rng: Rng, name: string, x: In, g: GradIn, s: Shape, pt?: Perturb): Raw {
  const { B, T, D } = s, a = ACT[name];
  const X = inputTokens(rng, B, T, D, x, pt);
  const Y = new Float64Array(X.length), dX = new Float64Array(X.length);
  const G = gradTokens(rng, B, T, D, g);
  for (let i = 0; i < X.length; i++) { Y[i] = a.f(X[i]); dX[i] = G[i] * a.df(X[i]); }
  return result(Y, dX, B, T, D, D, G);
}

/** LayerNorm (centre = true) or RMSNorm (centre = false), γ = 1, β = 0; backward by its Jacobian:
 *  LN:  dx = (g − mean(g) − y·mean(g⊙y)) / √(v + eps)
 *  RMS: dx = (g − y·mean(g⊙y)) / √(q + eps) */
function normTrial(rng: Rng, p: P, x: In, g: GradIn, s: Shape, centre: boolean, pt?: Perturb): Raw {
  const { B, T } = s, D = p.d, eps = p.eps ?? 1e-5, M = B * T;
  const X = inputTokens(rng, B, T, D, x, pt);
  const G = gradTokens(rng, B, T, D, g);
  const Y = new Float64Array(X.length), dX = new Float64Array(X.length);
  for (let i = 0; i < M; i++) {
    const o = i * D;
    let mu = 0;
    if (centre) { for (let f = 0; f < D; f++) mu += X[o + f]; mu /= D; }
    let q = 0;
    for (let f = 0; f < D; f++) { const c = X[o + f] - mu; q += c * c; }
    q /= D;
    const inv = 1 / Math.sqrt(q + eps);
    let gm = 0, gy = 0;
    for (let f = 0; f < D; f++) { Y[o + f] = (X[o + f] - mu) * inv; gm += G[o + f]; gy += G[o + f] * Y[o + f]; }
    gm = centre ? gm / D : 0; gy /= D;
    for (let f = 0; f < D; f++) dX[o + f] = (G[o + f] - gm - Y[o + f] * gy) * inv;
  }
  return result(Y, dX, B, T, D, D, G);
}

function dropoutTrial(rng: Rng, p: P, x: In, g: GradIn, s: Shape, pt?: Perturb): Raw {
  const { B, T, D } = s;
  const X = inputTokens(rng, B, T, D, x, pt);
  const m = dropMask(rng, X.length, p.p);
  const G = gradTokens(rng, B, T, D, g);
  return result(mulInto(X, m), mulInto(G, m), B, T, D, D, G);
}

/** softmax over the n features of each token (row); dx = y ⊙ (g − Σ y g) */
function softmaxTrial(rng: Rng, p: P, x: In, g: GradIn, s: Shape, pt?: Perturb): Raw {
  const { B, T } = s, n = p.n, M = B * T;
  const X = inputTokens(rng, B, T, n, x, pt);
  const G = gradTokens(rng, B, T, n, g);
  const Y = new Float64Array(X.length), dX = new Float64Array(X.length);
  for (let i = 0; i < M; i++) {
    const o = i * n;
    let mx = -Infinity;
    for (let f = 0; f < n; f++) mx = Math.max(mx, X[o + f]);
    let z = 0;
    for (let f = 0; f < n; f++) { Y[o + f] = Math.exp(X[o + f] - mx); z += Y[o + f]; }
    let yg = 0;
    for (let f = 0; f < n; f++) { Y[o + f] /= z; yg += Y[o + f] * G[o + f]; }
    for (let f = 0; f < n; f++) dX[o + f] = Y[o + f] * (G[o + f] - yg);
  }
  return result(Y, dX, B, T, n, n, G);
}

/**
 * Multi-head attention: Q = XW_q, K = XW_k, V = XW_v (value: false → V = X, head h reads feature
 * slice h), S = QKᵀ/√d_h per head (causal: keys j ≤ i), P = softmax rows, P' = P ⊙ mask/(1−p_a),
 * O = P'V (heads concatenated), Y = O W_o (value: false → Y = O).
 * Backward: dO = G W_oᵀ; dP' = dO Vᵀ; dV = P'ᵀ dO; dP = dP' ⊙ mask/(1−p_a);
 * dS = P ⊙ (dP − rowsum(P ⊙ dP)); dQ = dS K/√d_h; dK = dSᵀ Q/√d_h;
 * dX = dQ W_qᵀ + dK W_kᵀ + dV W_vᵀ (value: false → + dV).
 */
function attentionTrial(rng: Rng, p: P, x: In, g: GradIn, s: Shape, pt?: Perturb): Raw {
  const B = s.B, T = p.seqLen, d = p.dModel, H = p.heads, dh = d / H, M = B * T;
  const value = p.value !== false, causal = p.causal === true, pa = p.attnDropout ?? 0;
  const X = inputTokens(rng, B, T, d, x, pt);
  const Wq = rng.normals(d * d, p.stdQ), Wk = rng.normals(d * d, p.stdK);
  const Wv = value ? rng.normals(d * d, p.stdV) : null, Wo = value ? rng.normals(d * d, p.stdO) : null;
  const Q = matmul(X, Wq, M, d, d), K = matmul(X, Wk, M, d, d);
  const V = Wv ? matmul(X, Wv, M, d, d) : X;
  const O = new Float64Array(M * d);
  const scale = 1 / Math.sqrt(dh);
  // keep P, masks per (b, h) for the backward pass
  const Ps: Float64Array[] = [], Ms: Float64Array[] = [];
  for (let b = 0; b < B; b++) for (let h = 0; h < H; h++) {
    const P = new Float64Array(T * T), Mk = pa > 0 ? dropMask(rng, T * T, pa) : null;
    for (let i = 0; i < T; i++) {
      const qi = (b * T + i) * d + h * dh;
      const jmax = causal ? i : T - 1;
      let mx = -Infinity;
      for (let j = 0; j <= jmax; j++) {
        const kj = (b * T + j) * d + h * dh;
        let sc = 0;
        for (let c = 0; c < dh; c++) sc += Q[qi + c] * K[kj + c];
        sc *= scale;
        P[i * T + j] = sc;
        if (sc > mx) mx = sc;
      }
      let z = 0;
      for (let j = 0; j <= jmax; j++) { const e = Math.exp(P[i * T + j] - mx); P[i * T + j] = e; z += e; }
      for (let j = 0; j <= jmax; j++) P[i * T + j] /= z;
      const oi = (b * T + i) * d + h * dh;
      for (let j = 0; j <= jmax; j++) {
        const w = P[i * T + j] * (Mk ? Mk[i * T + j] : 1);
        if (w === 0) continue;
        const vj = (b * T + j) * d + h * dh;
        for (let c = 0; c < dh; c++) O[oi + c] += w * V[vj + c];
      }
    }
    Ps.push(P); Ms.push(Mk ?? new Float64Array(0));
  }
  const Y = Wo ? matmul(O, Wo, M, d, d) : O;
  // ---- backward
  const G = gradTokens(rng, B, T, d, g);
  const dO = Wo ? matmulBT(G, Wo, M, d, d) : G;
  const dQ = new Float64Array(M * d), dK = new Float64Array(M * d), dV = new Float64Array(M * d);
  const dP = new Float64Array(T * T);
  for (let b = 0; b < B; b++) for (let h = 0; h < H; h++) {
    const P = Ps[b * H + h], Mk = pa > 0 ? Ms[b * H + h] : null;
    for (let i = 0; i < T; i++) {
      const oi = (b * T + i) * d + h * dh;
      const jmax = causal ? i : T - 1;
      let rowDot = 0;
      for (let j = 0; j <= jmax; j++) {
        const vj = (b * T + j) * d + h * dh;
        const mk = Mk ? Mk[i * T + j] : 1;
        let dpp = 0; // dP'_ij = dO_i · V_j
        for (let c = 0; c < dh; c++) dpp += dO[oi + c] * V[vj + c];
        const w = P[i * T + j] * mk; // P'_ij
        if (w !== 0) for (let c = 0; c < dh; c++) dV[vj + c] += w * dO[oi + c];
        dP[i * T + j] = dpp * mk;
        rowDot += P[i * T + j] * dP[i * T + j];
      }
      for (let j = 0; j <= jmax; j++) {
        const ds = P[i * T + j] * (dP[i * T + j] - rowDot) * scale;
        if (ds === 0) continue;
        const kj = (b * T + j) * d + h * dh, qi = oi;
        for (let c = 0; c < dh; c++) { dQ[qi + c] += ds * K[kj + c]; dK[kj + c] += ds * Q[qi + c]; }
      }
    }
  }
  const dX = matmulBT(dQ, Wq, M, d, d);
  const dXk = matmulBT(dK, Wk, M, d, d);
  const dXv = Wv ? matmulBT(dV, Wv, M, d, d) : dV;
  for (let i = 0; i < dX.length; i++) dX[i] += dXk[i] + dXv[i];
  return result(Y, dX, B, T, d, d, G);
}

/** FFN: W1 → act → dropout (actDropout, default dropout) → W2 → dropout, no biases */
function ffnTrial(rng: Rng, p: P, x: In, g: GradIn, s: Shape, pt?: Perturb): Raw {
  const { B, T } = s, M = B * T, d = p.dModel, F = p.dFF, pd = p.dropout ?? 0, ph = p.actDropout ?? pd, a = ACT[p.activation];
  const X = inputTokens(rng, B, T, d, x, pt);
  const W1 = rng.normals(d * F, p.std1), W2 = rng.normals(F * d, p.std2);
  const H1 = matmul(X, W1, M, d, F);
  const m1 = ph > 0 ? dropMask(rng, M * F, ph) : null, m2 = pd > 0 ? dropMask(rng, M * d, pd) : null;
  const A = new Float64Array(M * F);
  for (let i = 0; i < A.length; i++) A[i] = a.f(H1[i]) * (m1 ? m1[i] : 1);
  const Z = matmul(A, W2, M, F, d);
  const Y = m2 ? mulInto(Z, m2) : Z;
  const G = gradTokens(rng, B, T, d, g);
  const dZ = m2 ? mulInto(G, m2) : G;
  const dA = matmulBT(dZ, W2, M, d, F);
  for (let i = 0; i < dA.length; i++) dA[i] *= (m1 ? m1[i] : 1) * a.df(H1[i]);
  const dX = matmulBT(dA, W1, M, F, d);
  return result(Y, dX, B, T, d, d, G);
}

/** SwiGLU: h = silu(XW1) ⊙ (XW3) → dropout (actDropout, default dropout) → W2 → dropout */
function swigluTrial(rng: Rng, p: P, x: In, g: GradIn, s: Shape, pt?: Perturb): Raw {
  const { B, T } = s, M = B * T, d = p.dModel, F = p.dFF, pd = p.dropout ?? 0, ph = p.actDropout ?? pd, a = ACT.silu;
  const X = inputTokens(rng, B, T, d, x, pt);
  const W1 = rng.normals(d * F, p.std1), W3 = rng.normals(d * F, p.std3), W2 = rng.normals(F * d, p.std2);
  const Ha = matmul(X, W1, M, d, F), Hb = matmul(X, W3, M, d, F);
  const m1 = ph > 0 ? dropMask(rng, M * F, ph) : null, m2 = pd > 0 ? dropMask(rng, M * d, pd) : null;
  const Hh = new Float64Array(M * F);
  for (let i = 0; i < Hh.length; i++) Hh[i] = a.f(Ha[i]) * Hb[i] * (m1 ? m1[i] : 1);
  const Z = matmul(Hh, W2, M, F, d);
  const Y = m2 ? mulInto(Z, m2) : Z;
  const G = gradTokens(rng, B, T, d, g);
  const dZ = m2 ? mulInto(G, m2) : G;
  const dH = matmulBT(dZ, W2, M, d, F);
  const dA = new Float64Array(M * F), dB = new Float64Array(M * F);
  for (let i = 0; i < dH.length; i++) {
    const gh = dH[i] * (m1 ? m1[i] : 1);
    dA[i] = gh * Hb[i] * a.df(Ha[i]);
    dB[i] = gh * a.f(Ha[i]);
  }
  const dX = matmulBT(dA, W1, M, F, d);
  const dX3 = matmulBT(dB, W3, M, F, d);
  for (let i = 0; i < dX.length; i++) dX[i] += dX3[i];
  return result(Y, dX, B, T, d, d, G);
}

/**
 * Residual with a real (input-dependent) branch: y = λ·x + β·xW, W ∈ R^{D×D} iid N(0, w²).
 * params {skip, branch, w}. dx = λ·g + β·g Wᵀ.
 */
function residualLinearTrial(rng: Rng, p: P, x: In, g: GradIn, s: Shape, pt?: Perturb): Raw {
  const { B, T, D } = s, M = B * T;
  const X = inputTokens(rng, B, T, D, x, pt);
  const W = rng.normals(D * D, p.w);
  const F = matmul(X, W, M, D, D);
  const Y = new Float64Array(M * D);
  for (let i = 0; i < Y.length; i++) Y[i] = p.skip * X[i] + p.branch * F[i];
  const G = gradTokens(rng, B, T, D, g);
  const dF = matmulBT(G, W, M, D, D);
  const dX = new Float64Array(M * D);
  for (let i = 0; i < dX.length; i++) dX[i] = p.skip * G[i] + p.branch * dF[i];
  return result(Y, dX, B, T, D, D, G);
}

/** One trial's raw tensors. */
export function trialRaw(block: string, rng: Rng, p: P, x: In, g: GradIn, s: Shape, pt?: Perturb): Raw {
  switch (block) {
    case 'linear': return linearTrial(rng, p, x, g, s, pt);
    case 'embedding': return embeddingTrial(rng, p, x, g, s, pt);
    case 'relu': case 'gelu': case 'silu': case 'gelu_tanh': return activationTrial(rng, actName(block, p), x, g, s, pt);
    case 'layernorm': return normTrial(rng, p, x, g, s, true, pt);
    case 'rmsnorm': return normTrial(rng, p, x, g, s, false, pt);
    case 'dropout': return dropoutTrial(rng, p, x, g, s, pt);
    case 'softmax': return softmaxTrial(rng, p, x, g, s, pt);
    case 'attention': return attentionTrial(rng, p, x, g, s, pt);
    case 'ffn': return ffnTrial(rng, p, x, g, s, pt);
    case 'swiglu': return swigluTrial(rng, p, x, g, s, pt);
    case 'residual-linear': return residualLinearTrial(rng, p, x, g, s, pt);
    default: throw new Error(`no simulator for block '${block}'`);
  }
}

/** One trial's statistics (exact definitions, see tensorStats). */
export function trial(block: string, rng: Rng, p: P, x: In, g: GradIn, s: Shape): TrialResult {
  const raw = trialRaw(block, rng, p, x, g, s);
  const f = tensorStats(raw.Y, raw.B, raw.T, raw.Dy), gr = tensorStats(raw.dX, raw.B, raw.T, raw.Dx);
  return { mean: f.mean, var: f.var, r: f.r, gradVar: gr.var, gradR: gr.r, rPooled: f.rPooled, gradRPooled: gr.rPooled };
}

/** Loss Σ Y ⊙ G of one trial (for finite differences). */
export function trialLoss(block: string, seed: number, p: P, x: In, g: GradIn, s: Shape, pt?: Perturb): { loss: number; raw: Raw } {
  const raw = trialRaw(block, new Rng(seed), p, x, g, s, pt);
  let l = 0;
  for (let i = 0; i < raw.Y.length; i++) l += raw.Y[i] * raw.G[i];
  return { loss: l, raw };
}

export const QUANTITIES = ['mean', 'var', 'r', 'gradVar', 'gradR'] as const;
export type Quantity = (typeof QUANTITIES)[number];
export interface Estimate { mean: number; se: number }
export type McResult = Record<Quantity | 'rPooled' | 'gradRPooled', Estimate> & { trials: number };

/** Mean and standard error of every statistic over `trials` independent trials (fresh weights,
 * inputs, masks and upstream gradients in each). Deterministic for a given seed. */
export function monteCarlo(block: string, p: P, x: In, g: GradIn, s: Shape, trials: number, seed: number): McResult {
  const rng = new Rng(seed);
  const keys = [...QUANTITIES, 'rPooled', 'gradRPooled'] as const;
  // Welford running mean / sum of squared deviations (no cancellation when mean >> spread)
  const mean: Record<string, number> = {}, m2: Record<string, number> = {};
  for (const k of keys) { mean[k] = 0; m2[k] = 0; }
  for (let t = 0; t < trials; t++) {
    const res = trial(block, rng.fork(), p, x, g, s);
    for (const k of keys) {
      const dlt = res[k] - mean[k];
      mean[k] += dlt / (t + 1);
      m2[k] += dlt * (res[k] - mean[k]);
    }
  }
  const out: Record<string, unknown> = { trials };
  for (const k of keys) {
    const v = trials > 1 ? m2[k] / (trials - 1) : 0;
    out[k] = { mean: mean[k], se: Math.sqrt(v / trials) };
  }
  return out as McResult;
}
