/**
 * The model config v1 describes, built in TF.js from the config semantics alone (no use of the
 * theory engine). Residual stream kept as a [batch·tokens, dModel] matrix.
 *   pre:  x ← λ·x + β·Drop(Attn(Norm(x)));  x ← λ·x + β·FFN(Norm(x))
 *   post: x ← Norm(λ·x + β·Drop(Attn(x)));  x ← Norm(λ·x + β·FFN(x))
 *   Attn: per head softmax(Q Kᵀ/√d_h [+ causal mask]) → dropout attnDropout → ·V, heads concatenated,
 *         then W_o; no biases; W_q, W_k std init.qk, W_v std init.v, W_o std init.o.
 *   FFN:  W1 → act → dropout actDropout → W2 → dropout;  SwiGLU: silu(xW1)⊙(xW3) → dropout actDropout
 *         → W2 → dropout (Drop and both "dropout" without a name: rate `dropout`).
 *   Norm: LayerNorm (γ=1, β=0, biased variance, eps inside the root) or RMSNorm; finalNorm after
 *         the last layer. Dropout: training mode, inverted scaling (mask 0 or 1/(1−p)).
 * Weights iid N(0, std²), drawn per seed by `drawWeights` (backend independent).
 *
 * Per-layer gradients: a zero "probe" is added to the residual stream at every entry (entry 0 =
 * input, entry l = after layer l, entry N after the final norm when there is one) and
 * tf.grads differentiates loss = Σ x_N ⊙ G with respect to all probes in one backward pass.
 *
 * Speed (wasm): the wasm backend only has a fast kernel for 2-D, non-transposed matmuls; every
 * matmul here is written that way, with tf.customGrad gradients that use explicitly transposed
 * copies (weights transposed once per seed), and attention runs per (sequence, head) slice.
 */
import type * as TF from '@tensorflow/tfjs';
import type { ResolvedConfig } from '../src/config.js';
import { Rng } from './rng.js';
import { sampleSequences } from './inputs.js';

type Tensor = TF.Tensor;
type Tensor2D = TF.Tensor2D;

export interface LayerWeights {
  wq: Float32Array; wk: Float32Array; wv: Float32Array; wo: Float32Array;
  w1: Float32Array; w2: Float32Array; w3?: Float32Array;
}

/** Weights of one seed, drawn in a fixed order: per layer wq, wk, wv, wo, w1, [w3], w2; [in, out] row-major. */
export function drawWeights(cfg: ResolvedConfig, seed: number): LayerWeights[] {
  const rng = new Rng(seed, 1);
  const d = cfg.dModel, f = cfg.dFF;
  const out: LayerWeights[] = [];
  for (let l = 0; l < cfg.layers; l++) {
    const wq = rng.normals(d * d, cfg.init.qk[l]);
    const wk = rng.normals(d * d, cfg.init.qk[l]);
    const wv = rng.normals(d * d, cfg.init.v[l]);
    const wo = rng.normals(d * d, cfg.init.o[l]);
    const w1 = rng.normals(d * f, cfg.init.ffn1[l]);
    const w3 = cfg.activation === 'swiglu' ? rng.normals(d * f, cfg.init.ffn3[l]) : undefined;
    const w2 = rng.normals(f * d, cfg.init.ffn2[l]);
    out.push({ wq, wk, wv, wo, w1, w2, w3 });
  }
  return out;
}

/** Dropout masks of one layer (each only where its rate is > 0: probs attnDropout, attnOut and
 * ffnOut dropout, act actDropout). */
export interface LayerMasks { probs?: Float32Array; attnOut?: Float32Array; act?: Float32Array; ffnOut?: Float32Array }

export interface PassData { x: Float32Array; g: Float32Array; masks: LayerMasks[] | null }

/** Inputs, upstream gradient G ~ iid N(0,1) and dropout masks of one pass, drawn in a fixed order
 * (per layer probs, attnOut, act, ffnOut, skipping a place whose rate is 0; with one rate for all
 * four — a config without attnDropout/actDropout — that is the order of every earlier release). */
export function drawPass(cfg: ResolvedConfig, batch: number, seed: number, pass = 0): PassData {
  const rng = new Rng(seed, 1000 + pass);
  const T = cfg.seqLen, d = cfg.dModel;
  const x = sampleSequences(rng, batch, T, d, cfg.input);
  const g = rng.normals(batch * T * d, 1);
  let masks: LayerMasks[] | null = null;
  const p = cfg.dropout, pa = cfg.attnDropout, ph = cfg.actDropout;
  if (p > 0 || pa > 0 || ph > 0) {
    masks = [];
    for (let l = 0; l < cfg.layers; l++) {
      const probs = pa > 0 ? rng.dropoutMask(batch * cfg.heads * T * T, pa) : undefined;
      const attnOut = p > 0 ? rng.dropoutMask(batch * T * d, p) : undefined;
      const act = ph > 0 ? rng.dropoutMask(batch * T * cfg.dFF, ph) : undefined;
      const ffnOut = p > 0 ? rng.dropoutMask(batch * T * d, p) : undefined;
      masks.push({ probs, attnOut, act, ffnOut });
    }
  }
  return { x, g, masks };
}

/** Matmul FLOPs of one pass actually executed: forward, plus the backward to the activations (no weight gradients). */
export function passFlops(cfg: ResolvedConfig, batch: number): { forward: number; backward: number; total: number } {
  const BT = batch * cfg.seqLen, d = cfg.dModel;
  const lin = 2 * BT * d * d * 4 + 2 * BT * d * cfg.dFF * (cfg.activation === 'swiglu' ? 3 : 2);
  const att = 2 * 2 * batch * cfg.seqLen * cfg.seqLen * d; // QKᵀ and P·V over all heads
  const forward = cfg.layers * (lin + att);
  const backward = cfg.layers * (lin + 2 * att); // dX of each linear; dQ, dK, dP, dV
  return { forward, backward, total: forward + backward };
}

/** Head `h`'s dropout mask of the probabilities ([B, H, T, T]) laid out on the [B·T, B·T] block diagonal. */
function blockMask(probs: Float32Array, B: number, H: number, T: number, h: number): Float32Array {
  const n = B * T, out = new Float32Array(n * n);
  for (let b = 0; b < B; b++) {
    const src = ((b * H + h) * T) * T;
    for (let i = 0; i < T; i++) out.set(probs.subarray(src + i * T, src + (i + 1) * T), (b * T + i) * n + b * T);
  }
  return out;
}

/** Thrown when a pass fails; says where. */
export class PassError extends Error {
  constructor(readonly layer: number | null, readonly phase: 'forward' | 'backward' | 'statistics' | 'setup', readonly cause0: unknown) {
    super(`${phase}${layer !== null ? ` at layer ${layer}` : ''}: ${cause0 instanceof Error ? cause0.message : String(cause0)}`);
    this.name = 'PassError';
  }
}

/** Per-entry statistics of one pass: rows = entries 0..N; [mean, var, r] forward and [mean, var, r] gradient. */
export interface PassStats { fwd: number[][]; grad: number[][] }

export interface ModelOptions {
  batch: number;
  /** per-(sequence, head) 2-D attention matmuls and NN-form custom gradients (wasm fast path) */
  blocked: boolean;
}

/** [mean, var, r] of a [B·T, d] activation, config v1 definitions; r averaged over the batch. */
export function statsTensor(tf: typeof TF, x2d: Tensor, B: number, T: number, d: number): Tensor {
  return tf.tidy(() => {
    const x = tf.reshape(x2d, [B, T, d]);
    const m = tf.mean(x);
    const u = tf.sub(x, m);
    const u2 = tf.square(u);
    const v = tf.mean(u2);
    if (T < 2) return tf.stack([m, v, tf.scalar(NaN)]);
    const n2 = tf.sum(u2, -1); // [B, T]
    const ok = tf.greater(n2, 0);
    // a zero token vector stays zero after scaling, so it drops out of every sum below
    const un = tf.mul(u, tf.expandDims(tf.rsqrt(tf.maximum(n2, 1e-30)), -1));
    const S = tf.sum(un, 1); // [B, d]
    const cnt = tf.sum(tf.cast(ok, 'float32'), -1); // [B]
    const self = tf.sum(tf.square(un), [1, 2]);
    const rB = tf.div(tf.sub(tf.sum(tf.square(S), -1), self), tf.mul(cnt, tf.sub(cnt, 1)));
    // a variance that overflows float32 makes the normalised vectors meaningless: r is NaN then too
    const r = tf.where(tf.isFinite(v), tf.mean(rB), tf.scalar(NaN));
    return tf.stack([m, v, r]);
  });
}

interface LayerTensors {
  wq?: Tensor2D; wk?: Tensor2D; wv?: Tensor2D; wo?: Tensor2D; w1?: Tensor2D; w2?: Tensor2D; w3?: Tensor2D;
  /** blocked (wasm) mode: transposed copies, and per-head column blocks of W_q, W_k, W_v and row blocks of W_o */
  t?: { w1: Tensor2D; w2: Tensor2D; w3?: Tensor2D };
  heads?: { q: Tensor2D; k: Tensor2D; v: Tensor2D; o: Tensor2D; qt: Tensor2D; kt: Tensor2D; vt: Tensor2D; ot: Tensor2D }[];
}

/** Columns [c0, c0+n) of a row-major [rows, cols] matrix. */
function columns(w: Float32Array, rows: number, cols: number, c0: number, n: number): Float32Array {
  const out = new Float32Array(rows * n);
  for (let i = 0; i < rows; i++) out.set(w.subarray(i * cols + c0, i * cols + c0 + n), i * n);
  return out;
}

export class Model {
  readonly cfg: ResolvedConfig;
  readonly B: number; readonly T: number; readonly d: number; readonly H: number; readonly dh: number;
  private readonly tf: typeof TF;
  private readonly blocked: boolean;
  private readonly layers: LayerTensors[] = [];
  /** batched mode: [T, T] causal mask; blocked mode: [B·T, B·T] mask (−∞ across sequences and above the diagonal) */
  private readonly attnMask: Tensor | null;
  /** the layer whose ops are being built (for error reports) */
  private current: number | null = null;

  constructor(tf: typeof TF, cfg: ResolvedConfig, weights: LayerWeights[], opts: ModelOptions) {
    this.tf = tf; this.cfg = cfg; this.B = opts.batch; this.T = cfg.seqLen; this.d = cfg.dModel; this.H = cfg.heads;
    this.dh = cfg.dModel / cfg.heads; this.blocked = opts.blocked;
    const d = this.d, f = cfg.dFF, dh = this.dh;
    for (const w of weights) {
      // an empty array leaves that weight out (component checks build only the part they need)
      const mk = (a: Float32Array | undefined, r: number, c: number) => (a && a.length ? tf.tensor2d(a, [r, c]) : undefined);
      const tr = (t: Tensor2D | undefined) => (t ? tf.transpose(t) : undefined);
      const lt: LayerTensors = {
        wq: mk(w.wq, d, d), wk: mk(w.wk, d, d), wv: mk(w.wv, d, d), wo: mk(w.wo, d, d),
        w1: mk(w.w1, d, f), w2: mk(w.w2, f, d), w3: mk(w.w3, d, f),
      };
      if (this.blocked) {
        lt.t = { w1: tr(lt.w1)!, w2: tr(lt.w2)!, w3: tr(lt.w3) };
        lt.heads = [];
        for (let h = 0; h < this.H && w.wq.length; h++) {
          // W_q's head block pre-scaled by 1/√d_h: (x·W_q/√d_h)·kᵀ = QKᵀ/√d_h without a separate multiply
          const q = tf.tensor2d(columns(w.wq, d, d, h * dh, dh).map((x) => x / Math.sqrt(dh)), [d, dh]);
          const k = tf.tensor2d(columns(w.wk, d, d, h * dh, dh), [d, dh]);
          const v = tf.tensor2d(columns(w.wv, d, d, h * dh, dh), [d, dh]);
          const o = tf.tensor2d(w.wo.subarray(h * dh * d, (h + 1) * dh * d), [dh, d]);
          lt.heads.push({ q, k, v, o, qt: tf.transpose(q), kt: tf.transpose(k), vt: tf.transpose(v), ot: tf.transpose(o) });
        }
      }
      this.layers.push(lt);
    }
    const T = this.T;
    if (this.blocked) {
      const n = this.B * T;
      const m = new Float32Array(n * n).fill(-Infinity);
      for (let b = 0; b < this.B; b++) {
        for (let i = 0; i < T; i++) for (let j = 0; j < (cfg.causal ? i + 1 : T); j++) m[(b * T + i) * n + b * T + j] = 0;
      }
      this.attnMask = this.B > 1 || cfg.causal ? tf.tensor2d(m, [n, n]) : null;
    } else if (cfg.causal) {
      const m = new Float32Array(T * T);
      for (let i = 0; i < T; i++) for (let j = i + 1; j < T; j++) m[i * T + j] = -Infinity;
      this.attnMask = tf.tensor2d(m, [T, T]);
    } else this.attnMask = null;
  }

  dispose(): void {
    for (const l of this.layers) {
      for (const t of [l.wq, l.wk, l.wv, l.wo, l.w1, l.w2, l.w3]) t?.dispose();
      if (l.t) for (const t of Object.values(l.t)) t?.dispose();
      if (l.heads) for (const h of l.heads) for (const t of Object.values(h)) t.dispose();
    }
    this.attnMask?.dispose();
  }

  /** y = x·W; gradient dx = dy·Wᵀ with the stored transposed copy (NN form), no weight gradient. */
  private lin(x: Tensor, W0: Tensor2D | undefined, Wt: Tensor2D | undefined): Tensor {
    const tf = this.tf, W = W0!;
    if (!Wt) return tf.matMul(x as Tensor2D, W);
    // eslint-disable-next-line @typescript-eslint/no-explicit-any
    const f = tf.customGrad(((a: Tensor) => ({ value: tf.matMul(a as Tensor2D, W), gradFunc: (dy: Tensor) => tf.matMul(dy as Tensor2D, Wt) })) as any);
    return (f as unknown as (a: Tensor) => Tensor)(x);
  }

  /** Scores q·kᵀ ([n, dh] × [n, dh] → [n, n]); gradients in NN form: dq = dS·k, dk = (qᵀ·dS)ᵀ. */
  private scores(q: Tensor, k: Tensor): Tensor {
    const tf = this.tf;
    const f = tf.customGrad(((a: Tensor, b: Tensor, save: TF.GradSaveFunc) => {
      save([a, b]);
      return {
        value: tf.matMul(a as Tensor2D, tf.transpose(b) as Tensor2D),
        gradFunc: (dy: Tensor, [sa, sb]: Tensor[]) => [
          tf.matMul(dy as Tensor2D, sb as Tensor2D),
          tf.transpose(tf.matMul(tf.transpose(sa) as Tensor2D, dy as Tensor2D)),
        ],
      };
    }) as any);
    return (f as unknown as (a: Tensor, b: Tensor) => Tensor)(q, k);
  }

  /** p·v ([n, n] × [n, dh]); gradients in NN form: dp = dO·vᵀ, dv = (dOᵀ·p)ᵀ. */
  private weighted(p: Tensor, v: Tensor): Tensor {
    const tf = this.tf;
    const f = tf.customGrad(((a: Tensor, b: Tensor, save: TF.GradSaveFunc) => {
      save([a, b]);
      return {
        value: tf.matMul(a as Tensor2D, b as Tensor2D),
        gradFunc: (dy: Tensor, [sa, sb]: Tensor[]) => [
          tf.matMul(dy as Tensor2D, tf.transpose(sb) as Tensor2D),
          tf.transpose(tf.matMul(tf.transpose(dy) as Tensor2D, sa as Tensor2D)),
        ],
      };
    }) as any);
    return (f as unknown as (a: Tensor, b: Tensor) => Tensor)(p, v);
  }

  private norm(x: Tensor): Tensor {
    const tf = this.tf, eps = this.cfg.eps;
    if (this.cfg.normKind === 'rmsnorm') return tf.mul(x, tf.rsqrt(tf.add(tf.mean(tf.square(x), -1, true), eps)));
    const xc = tf.sub(x, tf.mean(x, -1, true));
    return tf.mul(xc, tf.rsqrt(tf.add(tf.mean(tf.square(xc), -1, true), eps)));
  }

  private act(x: Tensor): Tensor {
    const tf = this.tf;
    switch (this.cfg.activation) {
      case 'relu': return tf.relu(x);
      case 'gelu': return tf.mul(tf.mul(x, 0.5), tf.add(tf.erf(tf.mul(x, Math.SQRT1_2)), 1));
      case 'gelu_tanh': {
        const inner = tf.mul(tf.add(x, tf.mul(tf.pow(x, 3), 0.044715)), Math.sqrt(2 / Math.PI));
        return tf.mul(tf.mul(x, 0.5), tf.add(tf.tanh(inner), 1));
      }
      case 'silu':
      case 'swiglu': return tf.mul(x, tf.sigmoid(x));
    }
  }

  private drop(x: Tensor, mask: Float32Array | undefined, shape: number[]): Tensor {
    if (!mask) return x;
    return this.tf.mul(x, this.tf.tensor(mask, shape));
  }

  /** The attention branch of layer l (no residual, no norm). */
  attention(l: number, h: Tensor, masks: LayerMasks | null): Tensor {
    const tf = this.tf, { B, T, H, dh, d } = this, W = this.layers[l];
    const scale = 1 / Math.sqrt(dh);
    if (W.heads) {
      // blocked mode: per head, all B sequences at once as one [B·T, B·T] score matrix whose
      // cross-sequence blocks are masked to −∞ (B× the attention FLOPs, but only fast 2-D NN matmuls)
      const n = B * T;
      let out: Tensor | null = null;
      for (let hh = 0; hh < H; hh++) {
        const w = W.heads[hh];
        const q = this.lin(h, w.q, w.qt), k = this.lin(h, w.k, w.kt), v = this.lin(h, w.v, w.vt);
        let s = this.scores(q, k);
        if (this.attnMask) s = tf.add(s, this.attnMask);
        let p = tf.softmax(s);
        if (masks?.probs) p = tf.mul(p, tf.tensor2d(blockMask(masks.probs, B, H, T, hh), [n, n]));
        const o = this.lin(this.weighted(p, v), w.o, w.ot);
        out = out ? tf.add(out, o) : o;
      }
      return this.drop(out!, masks?.attnOut, [B * T, d]);
    }
    const q = tf.matMul(h as Tensor2D, W.wq!), k = tf.matMul(h as Tensor2D, W.wk!), v = tf.matMul(h as Tensor2D, W.wv!);
    const heads = (t: Tensor) => tf.reshape(tf.transpose(tf.reshape(t, [B, T, H, dh]), [0, 2, 1, 3]), [B * H, T, dh]) as TF.Tensor3D;
    let s = tf.mul(tf.matMul(heads(q), heads(k), false, true), scale);
    if (this.attnMask) s = tf.add(s, this.attnMask);
    let p = tf.softmax(s);
    if (masks?.probs) p = tf.mul(p, tf.tensor(masks.probs, [B * H, T, T]));
    const o = tf.matMul(p as TF.Tensor3D, heads(v));
    const cat = tf.reshape(tf.transpose(tf.reshape(o, [B, H, T, dh]), [0, 2, 1, 3]), [B * T, d]);
    return this.drop(tf.matMul(cat as Tensor2D, W.wo!), masks?.attnOut, [B * T, d]);
  }

  /** The FFN branch of layer l (no residual, no norm). */
  ffn(l: number, h: Tensor, masks: LayerMasks | null): Tensor {
    const tf = this.tf, W = this.layers[l], Wt = W.t, BT = this.B * this.T, f = this.cfg.dFF;
    let a: Tensor;
    if (this.cfg.activation === 'swiglu') a = tf.mul(this.act(this.lin(h, W.w1, Wt?.w1)), this.lin(h, W.w3!, Wt?.w3));
    else a = this.act(this.lin(h, W.w1, Wt?.w1));
    a = this.drop(a, masks?.act, [BT, f]);
    return this.drop(this.lin(a, W.w2, Wt?.w2), masks?.ffnOut, [BT, this.d]);
  }

  private residual(l: number, x: Tensor, branch: (h: Tensor) => Tensor): Tensor {
    const tf = this.tf, lam = this.cfg.skip[l], beta = this.cfg.branch[l];
    if (this.cfg.norm === 'pre') return tf.add(tf.mul(x, lam), tf.mul(branch(this.norm(x)), beta));
    return this.norm(tf.add(tf.mul(x, lam), tf.mul(branch(x), beta)));
  }

  /** Residual stream after layer l (0-based) given the stream before it. */
  layer(l: number, x: Tensor, masks: LayerMasks | null): Tensor {
    const a = this.residual(l, x, (h) => this.attention(l, h, masks));
    return this.residual(l, a, (h) => this.ffn(l, h, masks));
  }

  /** One forward+backward pass; statistics of every entry, downloaded at the end. */
  async pass(data: PassData): Promise<PassStats> {
    const tf = this.tf, { B, T, d } = this, N = this.cfg.layers;
    let all: Tensor;
    try {
      all = tf.tidy(() => {
        this.current = null;
        const X = tf.tensor2d(data.x, [B * T, d]);
        const G = tf.tensor2d(data.g, [B * T, d]);
        const probes = Array.from({ length: N + 1 }, () => tf.zeros([B * T, d]));
        const fwd: Tensor[] = [];
        const loss = (...ps: Tensor[]) => {
          let x = tf.add(X, ps[0]);
          fwd.push(tf.keep(statsTensor(tf, x, B, T, d)));
          for (let l = 0; l < N; l++) {
            this.current = l + 1;
            x = this.layer(l, x, data.masks ? data.masks[l] : null);
            if (l === N - 1 && this.cfg.finalNorm) x = this.norm(x);
            x = tf.add(x, ps[l + 1]);
            fwd.push(tf.keep(statsTensor(tf, x, B, T, d)));
          }
          this.current = null;
          return tf.sum(tf.mul(x, G)) as TF.Scalar;
        };
        let grads: Tensor[];
        try {
          grads = tf.grads(loss)(probes);
        } catch (e) {
          if (e instanceof PassError) throw e;
          throw new PassError(this.current, this.current === null ? 'backward' : 'forward', e);
        }
        const gst = grads.map((g) => statsTensor(tf, g, B, T, d));
        const out = tf.stack([tf.stack(fwd), tf.stack(gst)]);
        for (const t of fwd) t.dispose();
        return out;
      });
    } catch (e) {
      if (e instanceof PassError) throw e;
      throw new PassError(this.current, 'setup', e);
    }
    let flat: Float32Array;
    try {
      flat = (await all.data()) as Float32Array;
    } catch (e) {
      throw new PassError(null, 'statistics', e);
    } finally {
      all.dispose();
    }
    const fwdRows: number[][] = [], gradRows: number[][] = [];
    for (let i = 0; i <= N; i++) {
      fwdRows.push([flat[i * 3], flat[i * 3 + 1], flat[i * 3 + 2]]);
      const o = (N + 1) * 3 + i * 3;
      gradRows.push([flat[o], flat[o + 1], flat[o + 2]]);
    }
    return { fwd: fwdRows, grad: gradRows };
  }
}
