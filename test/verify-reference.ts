/**
 * Independent float64 reference of config v1 for the harness tests: plain JS, forward with every
 * intermediate kept, hand-written backward. Written from the config semantics (src/config.ts
 * header), not from verify/model.ts. Weights, inputs, G and dropout masks are passed in (the same
 * arrays the TF.js model gets).
 */
import type { ResolvedConfig } from '../src/config.js';
import type { LayerMasks, LayerWeights, PassData } from '../verify/model.js';

type Vec = Float64Array;

/** y[n, out] = x[n, in] · W[in, out] */
function matmul(x: Vec, W: ArrayLike<number>, n: number, din: number, dout: number): Vec {
  const y = new Float64Array(n * dout);
  for (let i = 0; i < n; i++) {
    for (let k = 0; k < din; k++) {
      const a = x[i * din + k];
      if (a === 0) continue;
      const wo = k * dout, yo = i * dout;
      for (let j = 0; j < dout; j++) y[yo + j] += a * W[wo + j];
    }
  }
  return y;
}

/** dx[n, in] = dy[n, out] · Wᵀ */
function matmulT(dy: Vec, W: ArrayLike<number>, n: number, din: number, dout: number): Vec {
  const dx = new Float64Array(n * din);
  for (let i = 0; i < n; i++) {
    for (let k = 0; k < din; k++) {
      let s = 0;
      for (let j = 0; j < dout; j++) s += dy[i * dout + j] * W[k * dout + j];
      dx[i * din + k] = s;
    }
  }
  return dx;
}

const add = (a: Vec, b: Vec, ca = 1, cb = 1): Vec => { const o = new Float64Array(a.length); for (let i = 0; i < a.length; i++) o[i] = ca * a[i] + cb * b[i]; return o; };
const mulMask = (a: Vec, m: ArrayLike<number> | undefined): Vec => { if (!m) return a; const o = new Float64Array(a.length); for (let i = 0; i < a.length; i++) o[i] = a[i] * m[i]; return o; };

// ------------------------------------------------------------------ erf (W. J. Cody-style, |err| < 1.2e-7 via erfc series)
function erf(x: number): number {
  // Numerical Recipes erfc with Chebyshev fit, fractional error < 1.2e-7
  const z = Math.abs(x), t = 1 / (1 + 0.5 * z);
  const r = t * Math.exp(-z * z - 1.26551223 + t * (1.00002368 + t * (0.37409196 + t * (0.09678418 + t * (-0.18628806 + t * (0.27886807 + t * (-1.13520398 + t * (1.48851587 + t * (-0.82215223 + t * 0.17087277)))))))));
  return x >= 0 ? 1 - r : r - 1;
}

interface Act { f(h: number): number; df(h: number): number }
const sig = (h: number) => 1 / (1 + Math.exp(-h));
const ACTS: Record<string, Act> = {
  relu: { f: (h) => (h > 0 ? h : 0), df: (h) => (h > 0 ? 1 : 0) },
  gelu: { f: (h) => 0.5 * h * (1 + erf(h / Math.SQRT2)), df: (h) => 0.5 * (1 + erf(h / Math.SQRT2)) + (h * Math.exp(-h * h / 2)) / Math.sqrt(2 * Math.PI) },
  gelu_tanh: {
    f: (h) => 0.5 * h * (1 + Math.tanh(Math.sqrt(2 / Math.PI) * (h + 0.044715 * h ** 3))),
    df: (h) => { const c = Math.sqrt(2 / Math.PI), u = c * (h + 0.044715 * h ** 3), th = Math.tanh(u); return 0.5 * (1 + th) + 0.5 * h * (1 - th * th) * c * (1 + 3 * 0.044715 * h * h); },
  },
  silu: { f: (h) => h * sig(h), df: (h) => { const s = sig(h); return s * (1 + h * (1 - s)); } },
};
ACTS.swiglu = ACTS.silu;

// ------------------------------------------------------------------ norms (per row of width d)
interface NormCache { y: Vec; inv: Float64Array }
function normForward(cfg: ResolvedConfig, x: Vec, n: number, d: number): NormCache {
  const y = new Float64Array(n * d), inv = new Float64Array(n);
  for (let i = 0; i < n; i++) {
    const o = i * d;
    let mu = 0;
    if (cfg.normKind === 'layernorm') { for (let f = 0; f < d; f++) mu += x[o + f]; mu /= d; }
    let ss = 0;
    for (let f = 0; f < d; f++) ss += (x[o + f] - mu) ** 2;
    inv[i] = 1 / Math.sqrt(ss / d + cfg.eps);
    for (let f = 0; f < d; f++) y[o + f] = (x[o + f] - mu) * inv[i];
  }
  return { y, inv };
}
function normBackward(cfg: ResolvedConfig, c: NormCache, dy: Vec, n: number, d: number): Vec {
  const dx = new Float64Array(n * d);
  for (let i = 0; i < n; i++) {
    const o = i * d;
    let mdy = 0, mdyy = 0;
    for (let f = 0; f < d; f++) { mdy += dy[o + f]; mdyy += dy[o + f] * c.y[o + f]; }
    mdy /= d; mdyy /= d;
    for (let f = 0; f < d; f++) {
      const centred = cfg.normKind === 'layernorm' ? dy[o + f] - mdy : dy[o + f];
      dx[o + f] = c.inv[i] * (centred - c.y[o + f] * mdyy);
    }
  }
  return dx;
}

// ------------------------------------------------------------------ branches
interface AttnCache { x: Vec; q: Vec; k: Vec; v: Vec; P: Vec[]; Pd: Vec[]; o: Vec }
function attnForward(cfg: ResolvedConfig, w: LayerWeights, m: LayerMasks | null, x: Vec, B: number): { y: Vec; c: AttnCache } {
  const T = cfg.seqLen, d = cfg.dModel, H = cfg.heads, dh = d / H, n = B * T;
  const q = matmul(x, w.wq, n, d, d), k = matmul(x, w.wk, n, d, d), v = matmul(x, w.wv, n, d, d);
  const o = new Float64Array(n * d);
  const P: Vec[] = [], Pd: Vec[] = [];
  const sc = 1 / Math.sqrt(dh);
  for (let b = 0; b < B; b++) {
    for (let h = 0; h < H; h++) {
      const p = new Float64Array(T * T);
      for (let i = 0; i < T; i++) {
        let mx = -Infinity;
        const lim = cfg.causal ? i + 1 : T;
        for (let j = 0; j < lim; j++) {
          let s = 0;
          for (let e = 0; e < dh; e++) s += q[(b * T + i) * d + h * dh + e] * k[(b * T + j) * d + h * dh + e];
          p[i * T + j] = s * sc;
          if (p[i * T + j] > mx) mx = p[i * T + j];
        }
        let z = 0;
        for (let j = 0; j < lim; j++) { p[i * T + j] = Math.exp(p[i * T + j] - mx); z += p[i * T + j]; }
        for (let j = 0; j < T; j++) p[i * T + j] = j < lim ? p[i * T + j] / z : 0;
      }
      const pd = m?.probs ? p.map((val, idx) => val * m.probs![((b * H + h) * T) * T + idx]) : p;
      P.push(p); Pd.push(pd);
      for (let i = 0; i < T; i++) for (let j = 0; j < T; j++) {
        const a = pd[i * T + j];
        if (a === 0) continue;
        for (let e = 0; e < dh; e++) o[(b * T + i) * d + h * dh + e] += a * v[(b * T + j) * d + h * dh + e];
      }
    }
  }
  const y = mulMask(matmul(o, w.wo, n, d, d), m?.attnOut);
  return { y, c: { x, q, k, v, P, Pd, o } };
}
function attnBackward(cfg: ResolvedConfig, w: LayerWeights, m: LayerMasks | null, c: AttnCache, dy: Vec, B: number): Vec {
  const T = cfg.seqLen, d = cfg.dModel, H = cfg.heads, dh = d / H, n = B * T, sc = 1 / Math.sqrt(dh);
  const dout = mulMask(dy, m?.attnOut);
  const dO = matmulT(dout, w.wo, n, d, d);
  const dq = new Float64Array(n * d), dk = new Float64Array(n * d), dv = new Float64Array(n * d);
  for (let b = 0; b < B; b++) {
    for (let h = 0; h < H; h++) {
      const p = c.P[b * H + h], pd = c.Pd[b * H + h];
      const dP = new Float64Array(T * T);
      for (let i = 0; i < T; i++) for (let j = 0; j < T; j++) {
        let s = 0;
        for (let e = 0; e < dh; e++) s += dO[(b * T + i) * d + h * dh + e] * c.v[(b * T + j) * d + h * dh + e];
        const mask = m?.probs ? m.probs[((b * H + h) * T + i) * T + j] : 1;
        dP[i * T + j] = s * mask;
        for (let e = 0; e < dh; e++) dv[(b * T + j) * d + h * dh + e] += pd[i * T + j] * dO[(b * T + i) * d + h * dh + e];
      }
      for (let i = 0; i < T; i++) {
        let dot = 0;
        for (let j = 0; j < T; j++) dot += dP[i * T + j] * p[i * T + j];
        for (let j = 0; j < T; j++) {
          const dS = p[i * T + j] * (dP[i * T + j] - dot) * sc;
          if (dS === 0) continue;
          for (let e = 0; e < dh; e++) {
            dq[(b * T + i) * d + h * dh + e] += dS * c.k[(b * T + j) * d + h * dh + e];
            dk[(b * T + j) * d + h * dh + e] += dS * c.q[(b * T + i) * d + h * dh + e];
          }
        }
      }
    }
  }
  return add(add(matmulT(dq, w.wq, n, d, d), matmulT(dk, w.wk, n, d, d)), matmulT(dv, w.wv, n, d, d));
}

interface FfnCache { h1: Vec; h3: Vec | null; a: Vec }
function ffnForward(cfg: ResolvedConfig, w: LayerWeights, m: LayerMasks | null, x: Vec, B: number): { y: Vec; c: FfnCache } {
  const n = B * cfg.seqLen, d = cfg.dModel, F = cfg.dFF, act = ACTS[cfg.activation];
  const h1 = matmul(x, w.w1, n, d, F);
  const h3 = cfg.activation === 'swiglu' ? matmul(x, w.w3!, n, d, F) : null;
  const a = new Float64Array(n * F);
  for (let i = 0; i < a.length; i++) a[i] = act.f(h1[i]) * (h3 ? h3[i] : 1);
  const y = mulMask(matmul(mulMask(a, m?.act), w.w2, n, F, d), m?.ffnOut);
  return { y, c: { h1, h3, a } };
}
function ffnBackward(cfg: ResolvedConfig, w: LayerWeights, m: LayerMasks | null, c: FfnCache, dy: Vec, B: number): Vec {
  const n = B * cfg.seqLen, d = cfg.dModel, F = cfg.dFF, act = ACTS[cfg.activation];
  const da = mulMask(matmulT(mulMask(dy, m?.ffnOut), w.w2, n, F, d), m?.act);
  const dh1 = new Float64Array(n * F);
  for (let i = 0; i < dh1.length; i++) dh1[i] = da[i] * act.df(c.h1[i]) * (c.h3 ? c.h3[i] : 1);
  let dx = matmulT(dh1, w.w1, n, d, F);
  if (c.h3) {
    const dh3 = new Float64Array(n * F);
    for (let i = 0; i < dh3.length; i++) dh3[i] = da[i] * act.f(c.h1[i]);
    dx = add(dx, matmulT(dh3, w.w3!, n, d, F));
  }
  return dx;
}

// ------------------------------------------------------------------ statistics (config v1)
export function refStats(x: Vec, B: number, T: number, d: number): [number, number, number] {
  const N = x.length;
  let mean = 0;
  for (let i = 0; i < N; i++) mean += x[i];
  mean /= N;
  let v = 0;
  for (let i = 0; i < N; i++) v += (x[i] - mean) ** 2;
  v /= N;
  // brute force over token pairs: Pearson correlation of globally centred token vectors
  let rs = 0;
  for (let b = 0; b < B; b++) {
    let sum = 0, pairs = 0;
    for (let i = 0; i < T; i++) for (let j = 0; j < T; j++) {
      if (i === j) continue;
      let dot = 0, ni = 0, nj = 0;
      for (let f = 0; f < d; f++) {
        const a = x[(b * T + i) * d + f] - mean, c = x[(b * T + j) * d + f] - mean;
        dot += a * c; ni += a * a; nj += c * c;
      }
      sum += dot / Math.sqrt(ni * nj); pairs++;
    }
    rs += sum / pairs;
  }
  return [mean, v, rs / B];
}

/** Forward + backward of the whole model; per entry [mean, var, r] of x_l and of dLoss/dx_l. */
export function referencePass(cfg: ResolvedConfig, weights: LayerWeights[], data: PassData, B: number): { fwd: number[][]; grad: number[][] } {
  const T = cfg.seqLen, d = cfg.dModel, n = B * T, N = cfg.layers;
  const pre = cfg.norm === 'pre';
  let x: Vec = Float64Array.from(data.x);
  const entries: Vec[] = [x];
  type Sub = { kind: 'attn' | 'ffn'; l: number; x: Vec; norm?: NormCache; branch: AttnCache | FfnCache; post?: NormCache };
  const subs: Sub[] = [];
  for (let l = 0; l < N; l++) {
    const m = data.masks ? data.masks[l] : null;
    for (const kind of ['attn', 'ffn'] as const) {
      const lam = cfg.skip[l], beta = cfg.branch[l];
      const nc = pre ? normForward(cfg, x, n, d) : undefined;
      const inp = nc ? nc.y : x;
      const r = kind === 'attn' ? attnForward(cfg, weights[l], m, inp, B) : ffnForward(cfg, weights[l], m, inp, B);
      const z = add(x, r.y, lam, beta);
      const pc = pre ? undefined : normForward(cfg, z, n, d);
      subs.push({ kind, l, x, norm: nc, branch: r.c, post: pc });
      x = pc ? pc.y : z;
    }
    entries.push(x);
  }
  let fin: NormCache | undefined;
  if (cfg.finalNorm) { fin = normForward(cfg, x, n, d); entries[N] = fin.y; }
  // backward
  const grads: Vec[] = new Array(N + 1);
  let g: Vec = Float64Array.from(data.g);
  grads[N] = g;
  if (fin) g = normBackward(cfg, fin, g, n, d);
  for (let i = subs.length - 1; i >= 0; i--) {
    const s = subs[i], lam = cfg.skip[s.l], beta = cfg.branch[s.l];
    const m = data.masks ? data.masks[s.l] : null;
    const dz = s.post ? normBackward(cfg, s.post, g, n, d) : g;
    const dbranchOut = dz.map((v) => v * beta);
    let dIn = s.kind === 'attn'
      ? attnBackward(cfg, weights[s.l], m, s.branch as AttnCache, dbranchOut, B)
      : ffnBackward(cfg, weights[s.l], m, s.branch as FfnCache, dbranchOut, B);
    if (s.norm) dIn = normBackward(cfg, s.norm, dIn, n, d);
    g = add(dz, dIn, lam, 1);
    if (s.kind === 'attn') grads[s.l] = g;
  }
  return { fwd: entries.map((e) => refStats(e, B, T, d)), grad: grads.map((e) => refStats(e, B, T, d)) };
}
