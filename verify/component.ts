/**
 * `verify --component REQ.json`: one catalogue block in isolation. Inputs are sampled with the
 * request's moments (Gaussian, iid over features, token correlation r; see inputs.ts), the upstream
 * gradient with the request's grad moments (mean 0), and the block's output and input gradient are
 * measured with the config v1 statistics over K seeds (fresh weights, inputs and masks per seed).
 * Shapes: [batch, tokens, width]; tokens = params.seqLen for attention, else --tokens (default 16);
 * width = the block's own width (dIn, d, dModel, n) or --width (default 256) for elementwise blocks.
 */
import type * as TF from '@tensorflow/tfjs';
import { component, type ComponentRequest } from '../src/component.js';
import { resolveConfig, type ResolvedConfig } from '../src/config.js';
import { fail, isObject } from '../src/errors.js';
import { getBlock, validateParams } from '../formulas/index.js';
import { fmt, table } from '../src/format.js';
import { initBackend, tf, type BackendName } from './backend.js';
import { sampleSequences } from './inputs.js';
import { checkTokenCorrelation } from '../src/config.js';
import { Rng } from './rng.js';
import { Model, statsTensor, type LayerMasks } from './model.js';
import { compareLayer, meanStd, TOLERANCE_RULE, type LayerReport, type Measured } from './compare.js';

export interface ComponentOptions { backend: BackendName; seeds: number; batch: number; firstSeed?: number; tokens?: number; width?: number }

export interface ComponentResult extends Omit<LayerReport, 'layer'> {
  block: string;
  params: Record<string, unknown>;
  backend: string;
  device: string;
  seeds: number;
  batch: number;
  tokens: number;
  width: number;
  timing: { passSeconds: number | null; totalSeconds: number };
  summary: { verdict: string; toleranceRule: string; notes: string[] };
}

/** [mean, var, r] of a [B, T, d] array, config v1 definitions, in float64. */
export function statsJs(x: ArrayLike<number>, B: number, T: number, d: number): [number, number, number] {
  const n = B * T * d;
  let m = 0;
  for (let i = 0; i < n; i++) m += x[i];
  m /= n;
  let v = 0;
  for (let i = 0; i < n; i++) v += (x[i] - m) ** 2;
  v /= n;
  let rSum = 0;
  const S = new Float64Array(d);
  for (let b = 0; b < B; b++) {
    S.fill(0);
    let cnt = 0, self = 0;
    for (let t = 0; t < T; t++) {
      const o = (b * T + t) * d;
      let n2 = 0;
      for (let f = 0; f < d; f++) n2 += (x[o + f] - m) ** 2;
      if (n2 === 0) continue;
      cnt++;
      const inv = 1 / Math.sqrt(n2);
      for (let f = 0; f < d; f++) S[f] += (x[o + f] - m) * inv;
      self += 1;
    }
    let s2 = 0;
    for (let f = 0; f < d; f++) s2 += S[f] * S[f];
    rSum += (s2 - self) / (cnt * (cnt - 1));
  }
  return [m, v, T > 1 ? rSum / B : NaN];
}

interface Shape { tokens: number; width: number; outWidth: number }

function shapeOf(block: string, p: Record<string, any>, o: ComponentOptions): Shape {
  const tokens = block === 'attention' ? p.seqLen : o.tokens ?? 16;
  if (block === 'attention' && o.tokens !== undefined && o.tokens !== p.seqLen) fail('--tokens', `attention uses params.seqLen (${p.seqLen}) tokens`);
  switch (block) {
    case 'linear': return { tokens, width: p.dIn, outWidth: p.dOut };
    case 'layernorm': case 'rmsnorm': return { tokens, width: p.d, outWidth: p.d };
    case 'softmax': return { tokens, width: p.n, outWidth: p.n };
    case 'attention': case 'ffn': case 'swiglu': return { tokens, width: p.dModel, outWidth: p.dModel };
    default: { const w = o.width ?? 256; return { tokens, width: w, outWidth: w }; }
  }
}

/** A 1-layer resolved config carrying the dimensions a Model branch needs. */
function branchConfig(block: string, p: Record<string, any>, tokens: number): ResolvedConfig {
  const base: Record<string, unknown> = { layers: 1, seqLen: tokens };
  if (block === 'attention') Object.assign(base, { dModel: p.dModel, heads: p.heads, dFF: 1, causal: p.causal ?? false, dropout: 0, attnDropout: p.attnDropout ?? 0 });
  else Object.assign(base, { dModel: p.dModel, heads: 1, dFF: p.dFF, activation: block === 'swiglu' ? 'swiglu' : p.activation, dropout: p.dropout ?? 0, attnDropout: 0, actDropout: p.actDropout ?? p.dropout ?? 0 });
  return resolveConfig(base);
}

function identity(d: number): Float32Array {
  const m = new Float32Array(d * d);
  for (let i = 0; i < d; i++) m[i * d + i] = 1;
  return m;
}

/** Forward function of the block for one seed (weights and masks drawn here). */
function blockFn(block: string, p: Record<string, any>, sh: Shape, B: number, rng: Rng, blocked: boolean): { f: (x: TF.Tensor) => TF.Tensor; dispose(): void } {
  const T = sh.tokens, BT = B * T;
  const keep: TF.Tensor[] = [];
  const t2 = (a: Float32Array, r: number, c: number) => { const t = tf.tensor2d(a, [r, c]); keep.push(t); return t; };
  const done = { dispose: () => { for (const t of keep) t.dispose(); } };
  switch (block) {
    case 'linear': {
      const W = t2(rng.normals(p.dIn * p.dOut, p.std), p.dIn, p.dOut);
      const b = p.biasStd > 0 ? t2(rng.normals(p.dOut, p.biasStd), 1, p.dOut) : null;
      return { ...done, f: (x) => (b ? tf.add(tf.matMul(x as TF.Tensor2D, W), b) : tf.matMul(x as TF.Tensor2D, W)) };
    }
    case 'relu': return { ...done, f: (x) => tf.relu(x) };
    case 'silu': return { ...done, f: (x) => tf.mul(x, tf.sigmoid(x)) };
    case 'gelu':
      if (p.approximate === 'tanh') return { ...done, f: (x) => tf.mul(tf.mul(x, 0.5), tf.add(tf.tanh(tf.mul(tf.add(x, tf.mul(tf.pow(x, 3), 0.044715)), Math.sqrt(2 / Math.PI))), 1)) };
      return { ...done, f: (x) => tf.mul(tf.mul(x, 0.5), tf.add(tf.erf(tf.mul(x, Math.SQRT1_2)), 1)) };
    case 'layernorm': return { ...done, f: (x) => { const xc = tf.sub(x, tf.mean(x, -1, true)); return tf.mul(xc, tf.rsqrt(tf.add(tf.mean(tf.square(xc), -1, true), p.eps))); } };
    case 'rmsnorm': return { ...done, f: (x) => tf.mul(x, tf.rsqrt(tf.add(tf.mean(tf.square(x), -1, true), p.eps))) };
    case 'dropout': { const m = t2(rng.dropoutMask(BT * sh.width, p.p), BT, sh.width); return { ...done, f: (x) => tf.mul(x, m) }; }
    case 'softmax': return { ...done, f: (x) => tf.softmax(x) };
    case 'attention': case 'ffn': case 'swiglu': {
      const cfg = branchConfig(block, p, T);
      const d = cfg.dModel, F = cfg.dFF;
      const empty = new Float32Array(0);
      let w;
      if (block === 'attention') {
        const value = p.value !== false;
        w = {
          wq: rng.normals(d * d, p.stdQ), wk: rng.normals(d * d, p.stdK),
          wv: value ? rng.normals(d * d, p.stdV) : identity(d), wo: value ? rng.normals(d * d, p.stdO) : identity(d), w1: empty, w2: empty,
        };
      } else {
        const w1 = rng.normals(d * F, p.std1);
        const w3 = block === 'swiglu' ? rng.normals(d * F, p.std3) : undefined;
        w = { wq: empty, wk: empty, wv: empty, wo: empty, w1, w3, w2: rng.normals(F * d, p.std2) };
      }
      const model = new Model(tf, cfg, [w], { batch: B, blocked });
      const masks: LayerMasks = {};
      // the same draws as before the separate rates (probs; or act then ffnOut), a place with rate 0 skipped
      if (block === 'attention') { if (cfg.attnDropout > 0) masks.probs = rng.dropoutMask(B * cfg.heads * T * T, cfg.attnDropout); }
      else {
        if (cfg.actDropout > 0) masks.act = rng.dropoutMask(BT * F, cfg.actDropout);
        if (cfg.dropout > 0) masks.ffnOut = rng.dropoutMask(BT * d, cfg.dropout);
      }
      const f = block === 'attention' ? (x: TF.Tensor) => model.attention(0, x, masks) : (x: TF.Tensor) => model.ffn(0, x, masks);
      return { f, dispose: () => model.dispose() };
    }
  }
  fail('block', `'${block}' has no sampled measurement`);
}

function measureEmbedding(p: Record<string, any>, sh: Shape, B: number, rng: Rng, g: Float32Array): { fwd: number[]; grad: number[] } {
  const T = sh.tokens, d = sh.width, V = p.vocab;
  let sample: () => number;
  if ((p.tokens ?? 'uniform') === 'zipf') {
    if (V > 10_000_000) fail('params.vocab', `must be <= 10000000 for a Zipf token sample in verify, got ${V}`);
    const cdf = new Float64Array(V);
    let acc = 0;
    for (let k = 0; k < V; k++) { acc += Math.pow(k + 1, -(p.zipfExponent ?? 1)); cdf[k] = acc; }
    sample = () => {
      const u = rng.uniform() * acc;
      let lo = 0, hi = V - 1;
      while (lo < hi) { const mid = (lo + hi) >> 1; if (cdf[mid] < u) lo = mid + 1; else hi = mid; }
      return lo;
    };
  } else sample = () => Math.min(V - 1, Math.floor(rng.uniform() * V));
  const rows = new Map<number, Float32Array>();
  const pos = rng.normals(T * d, p.posStd ?? 0);
  const typ = rng.normals(d, p.typeStd ?? 0);
  const out = new Float64Array(B * T * d);
  for (let b = 0; b < B; b++) {
    for (let t = 0; t < T; t++) {
      const id = sample();
      let row = rows.get(id);
      if (!row) { row = rng.normals(d, p.std); rows.set(id, row); }
      const o = (b * T + t) * d;
      for (let f = 0; f < d; f++) out[o + f] = row[f] + pos[t * d + f] + typ[f];
    }
  }
  // the gradient at the embedding output is the upstream gradient itself
  return { fwd: statsJs(out, B, T, d), grad: statsJs(g, B, T, d) };
}

export async function verifyComponent(raw: unknown, o: ComponentOptions): Promise<ComponentResult> {
  const t0 = performance.now();
  // validates the request (InputError naming the field); predicted for the measured batch (the
  // statistics are centred at its sample mean: causal attention's gradR depends on it)
  const predicted = component(isObject(raw) ? { ...raw, batch: o.batch } : raw);
  const req = raw as ComponentRequest;
  const { block: blk, extra } = getBlock(req.block);
  const name = blk.doc.name;
  if (name === 'residual') fail('block', "'residual' takes the branch's moments as parameters, so there is nothing to sample in isolation; it is measured inside verify --config (every layer is a residual add)");
  const params = validateParams(blk, { ...(isObject(req.params) ? req.params : {}), ...extra }) as Record<string, any>;
  const sh = shapeOf(name, params, o);
  const inp = { mean: req.input?.mean ?? 0, var: req.input?.var ?? 1, r: req.input?.r ?? 0 };
  const gr = { mean: 0, var: req.grad?.var ?? 1, r: req.grad?.r ?? 0 };
  checkTokenCorrelation(inp.r, sh.tokens, 'input.r');
  checkTokenCorrelation(gr.r, sh.tokens, 'grad.r');
  const B = o.batch, T = sh.tokens;
  const flops = 2 * B * T * sh.width * Math.max(sh.outWidth, params.dFF ?? 0) * 4 + (name === 'attention' ? 8 * B * T * T * sh.width : 0);
  const info = name === 'embedding' ? { backend: 'js' as const, device: 'plain JS (float64), no TF.js backend needed', notes: [] as string[] } : await initBackend(o.backend, flops);
  const fwd: number[][] = [], grad: number[][] = [], times: number[] = [];
  for (let s = 0; s < o.seeds; s++) {
    const seed = (o.firstSeed ?? 1) + s;
    const rng = new Rng(seed, 77);
    const g = sampleSequences(rng, B, T, sh.outWidth, gr);
    const t1 = performance.now();
    if (name === 'embedding') {
      const r = measureEmbedding(params, sh, B, rng, g);
      fwd.push(r.fwd); grad.push(r.grad);
    } else {
      const x = sampleSequences(rng, B, T, sh.width, inp);
      const fn = blockFn(name, params, sh, B, rng, info.backend === 'wasm');
      try {
        const out = tf.tidy(() => {
          const X = tf.tensor2d(x, [B * T, sh.width]);
          const G = tf.tensor2d(g, [B * T, sh.outWidth]);
          let ys: TF.Tensor | null = null;
          const [dx] = tf.grads((xx: TF.Tensor) => { const y = fn.f(xx); ys = tf.keep(statsTensor(tf, y, B, T, sh.outWidth)); return tf.sum(tf.mul(y, G)) as TF.Scalar; })([X]);
          const res = tf.stack([ys!, statsTensor(tf, dx, B, T, sh.width)]);
          ys!.dispose();
          return res;
        });
        const a = Array.from(await out.data());
        out.dispose();
        fwd.push(a.slice(0, 3)); grad.push(a.slice(3, 6));
      } finally { fn.dispose(); }
    }
    times.push((performance.now() - t1) / 1000);
  }
  const measured: Measured = {
    mean: meanStd(fwd.map((r) => r[0])), var: meanStd(fwd.map((r) => r[1])), r: T > 1 ? meanStd(fwd.map((r) => r[2])) : null,
    gradVar: meanStd(grad.map((r) => r[1])), gradR: T > 1 ? meanStd(grad.map((r) => r[2])) : null,
  };
  const rep = compareLayer({ mean: predicted.mean, var: predicted.var, r: predicted.r, gradVar: predicted.gradVar, gradR: predicted.gradR }, measured, 0);
  const { layer: _drop, ...rest } = rep;
  void _drop;
  const outside = (['mean', 'var', 'r', 'gradVar', 'gradR'] as const).filter((q) => rep.relErr[q] !== null && rep.relErr[q]! > rep.tolerance[q]!);
  const verdict = rep.withinTolerance ? `PASS: ${name} within tolerance on all measured moments` : `MISMATCH: ${name} outside tolerance on ${outside.length ? outside.join(', ') : 'a diverged (NaN/Inf) moment'}`;
  const sorted = [...times].sort((a, b) => a - b);
  return {
    block: String(req.block), params, backend: info.backend, device: info.device, seeds: o.seeds, batch: B, tokens: T, width: sh.width,
    timing: { passSeconds: sorted.length ? sorted[sorted.length >> 1] : null, totalSeconds: (performance.now() - t0) / 1000 },
    ...rest,
    summary: { verdict, toleranceRule: TOLERANCE_RULE, notes: [...info.notes, ...predicted.warnings] },
  };
}

export async function runComponentCommand(raw: unknown, o: ComponentOptions & { json: boolean }): Promise<number> {
  const r = await verifyComponent(raw, o);
  if (o.json) process.stdout.write(JSON.stringify(r) + '\n');
  else {
    process.stdout.write(`${r.block}: backend ${r.backend} on ${r.device}; ${r.seeds} seed(s) × batch ${r.batch} × ${r.tokens} tokens × width ${r.width}\n`);
    const rows = (['mean', 'var', 'r', 'gradVar', 'gradR'] as const).map((q) => {
      const m = r.measured[q], e = r.relErr[q], t = r.tolerance[q];
      const rel = q === 'var' || q === 'gradVar';
      const es = e === null ? '—' : rel ? `${(e * 100).toPrecision(2)}%` : fmt(e, 2);
      const ts = t === null ? '—' : rel ? `${(t * 100).toPrecision(2)}%` : fmt(t, 2);
      return [q, fmt(r.predicted[q]), m === null ? 'NaN/Inf' : `${fmt(m[0])} ± ${fmt(m[1], 2)}`, es, ts, e !== null && t !== null && e > t ? 'NO' : 'yes'];
    });
    process.stdout.write(table(['moment', 'predicted', 'measured ± std', 'error', 'tolerance', 'ok'], rows) + '\n');
    for (const n of r.summary.notes) process.stdout.write(`note: ${n}\n`);
    process.stdout.write(`verdict: ${r.summary.verdict}\n`);
  }
  return r.withinTolerance ? 0 : 1;
}

