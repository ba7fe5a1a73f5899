/**
 * The engine: turns a resolved config v1 into a plan of sub-layers (each a list of catalogue
 * blocks), folds the moment state forward through it, then folds the gradient state backward.
 * Pure functions over immutable moment values; the catalogue (formulas/) holds every formula.
 */
import type { GradMoments, LayerMoments, Method, Moments } from './types.js';
import type { ResolvedConfig } from './config.js';
import { METHODS, METHOD_RANK, type Stage, type StageTrace } from '../formulas/_chain.js';
import { gmom, mom, type ForwardResult } from '../formulas/_core.js';
import { layernorm } from '../formulas/layernorm.js';
import { rmsnorm } from '../formulas/rmsnorm.js';
import { attention } from '../formulas/attention.js';
import { dropout } from '../formulas/dropout.js';
import { ffnStages } from '../formulas/ffn.js';
import { swiglu } from '../formulas/swiglu.js';
import { residualBackward, residualForward } from '../formulas/residual.js';
import { variant, type FormulaSet } from '../formulas/index.js';
import { causalFoldApplies, runCausalPlan } from './causal.js';

export interface SubLayer {
  layer: number; // 1-based layer index
  kind: 'attn' | 'ffn';
  skip: number;
  branch: number;
  /** branch stages (for pre: starting with the norm) */
  stages: Stage[];
  /** post-norm applied after the residual add (post placement) */
  postNorm?: Stage;
}

export interface Plan { cfg: ResolvedConfig; sublayers: SubLayer[]; finalNorm?: Stage }

export function normStage(cfg: ResolvedConfig, label = 'norm'): Stage {
  return { block: cfg.normKind === 'rmsnorm' ? rmsnorm : layernorm, params: { d: cfg.dModel, eps: cfg.eps }, label };
}

const planCache = { ours: new WeakMap<ResolvedConfig, Plan>(), paper: new WeakMap<ResolvedConfig, Plan>() };

/** The sub-layers of a config, exactly as config v1 defines them (cached per resolved config,
 * which is treated as immutable). `formula: 'paper'` swaps in the published DSLM rows where the
 * paper has one (formulas/index.ts PAPER), for comparison. */
export function buildPlan(cfg: ResolvedConfig, formula: FormulaSet = 'ours'): Plan {
  const hit = planCache[formula].get(cfg);
  if (hit) return hit;
  const plan = makePlan(cfg);
  if (formula === 'paper') {
    const swap = (st: Stage): Stage => ({ ...st, block: variant(st.block, 'paper') });
    for (const sl of plan.sublayers) { sl.stages = sl.stages.map(swap); if (sl.postNorm) sl.postNorm = swap(sl.postNorm); }
    if (plan.finalNorm) plan.finalNorm = swap(plan.finalNorm);
  }
  planCache[formula].set(cfg, plan);
  return plan;
}

function makePlan(cfg: ResolvedConfig): Plan {
  const subs: SubLayer[] = [];
  const shared = sharedStages(cfg);
  for (let l = 0; l < cfg.layers; l++) subs.push(...layerSublayers(cfg, l, shared));
  return { cfg, sublayers: subs, finalNorm: cfg.finalNorm ? normStage(cfg, 'final norm') : undefined };
}

/** Stages that are the same in every layer (immutable, shared by all sub-layers of a plan). */
interface SharedStages { norm: Stage; dropout?: Stage }
function sharedStages(cfg: ResolvedConfig): SharedStages {
  return { norm: normStage(cfg), dropout: cfg.dropout > 0 ? { block: dropout, params: { p: cfg.dropout, d: cfg.dModel }, label: 'dropout' } : undefined };
}

/** The two sub-layers (attention, FFN) of layer l (0-based) of a config, exactly as config v1
 * defines them; uncached (the advisor builds layer by layer while it sets the stds). */
export function layerSublayers(cfg: ResolvedConfig, l: number, shared: SharedStages = sharedStages(cfg)): [SubLayer, SubLayer] {
  const pre = cfg.norm === 'pre';
  const attnStages: Stage[] = [];
  if (pre) attnStages.push(shared.norm);
  attnStages.push({
    block: attention,
    params: { dModel: cfg.dModel, heads: cfg.heads, stdQ: cfg.init.qk[l], stdK: cfg.init.qk[l], stdV: cfg.init.v[l], stdO: cfg.init.o[l], value: true, seqLen: cfg.seqLen, causal: cfg.causal, attnDropout: cfg.attnDropout },
    label: 'attention',
  });
  if (shared.dropout) attnStages.push(shared.dropout);
  const ffnSt: Stage[] = [];
  if (pre) ffnSt.push(shared.norm);
  // the activation dropout only where it differs from its default (dropout): stage params, and so traces, stay as they were
  const actP = cfg.actDropout !== cfg.dropout ? { actDropout: cfg.actDropout } : {};
  if (cfg.activation === 'swiglu') {
    ffnSt.push({ block: swiglu, params: { dModel: cfg.dModel, dFF: cfg.dFF, std1: cfg.init.ffn1[l], std3: cfg.init.ffn3[l], std2: cfg.init.ffn2[l], dropout: cfg.dropout, ...actP }, label: 'swiglu' });
  } else {
    ffnSt.push(...ffnStages({ dModel: cfg.dModel, dFF: cfg.dFF, activation: cfg.activation, std1: cfg.init.ffn1[l], std2: cfg.init.ffn2[l], dropout: cfg.dropout, ...actP }));
  }
  const post = pre ? undefined : shared.norm;
  return [
    { layer: l + 1, kind: 'attn', skip: cfg.skip[l], branch: cfg.branch[l], stages: attnStages, postNorm: post },
    { layer: l + 1, kind: 'ffn', skip: cfg.skip[l], branch: cfg.branch[l], stages: ffnSt, postNorm: post },
  ];
}

export interface SubTrace {
  layer: number;
  kind: 'attn' | 'ffn';
  input: Moments;
  branch: StageTrace[];
  branchOut: Moments;
  added: Moments;
  post?: StageTrace;
  out: Moments;
  gradOut?: GradMoments;
  gradIn?: GradMoments;
}

/** null marks a value that overflowed (see warnings) — never NaN/Infinity. */
export interface LayerResult {
  layer: number;
  mean: number | null;
  var: number | null;
  r: number | null;
  gradVar: number | null;
  gradR: number | null;
}

export interface Prediction {
  layers: LayerResult[];
  warnings: string[];
  method: Method;
  /** first layer whose forward variance overflows / whose gradient overflows, if any */
  explodesAt?: { forward?: number; backward?: number };
  trace?: { sublayers: SubTrace[]; finalNorm?: StageTrace };
}

const HUGE = 1e300;
const bad = (x: number) => !Number.isFinite(x) || Math.abs(x) > HUGE;

export interface PredictOptions {
  trace?: boolean;
  /** 'paper': the published DSLM rows where they exist (for comparison); default 'ours' */
  formula?: FormulaSet;
  /** sequences per measurement batch: the statistics then remove the batch's sample mean, as the
   * harness does (causal fold only; default: infinitely many sequences) */
  batch?: number;
}

/** The fold's record of a forward pass: what the backward pass reads, and what a trace shows. */
interface Fold {
  /** forward result of every branch stage, sub-layer after sub-layer (offsets in `off`) */
  fw: ForwardResult<any>[];
  off: number[];
  /** each sub-layer's input, residual sum and post-norm result */
  ins: Moments[];
  added: Moments[];
  post: (ForwardResult<any> | undefined)[];
  entries: Moments[];
  x: Moments;
  method: Method;
  explode?: number;
  /** number of sub-layers folded (all unless the forward pass exploded) */
  count: number;
}

/** The forward fold: per sub-layer the branch stages, the residual add and the post-norm. It keeps
 * each stage's forward result in one flat array and builds no per-stage objects of its own (a
 * trace, when asked for, is assembled from the record afterwards: traceOf). */
function foldForward(plan: Plan, input: Moments, warnOnce: (key: string, msg: string) => void): Fold {
  const S = plan.sublayers, d = plan.cfg.dModel;
  const fold: Fold = { fw: [], off: new Array(S.length + 1), ins: new Array(S.length), added: new Array(S.length), post: new Array(S.length), entries: [], x: input, method: 'closed-form', count: 0 };
  let x = input, rank = 0, pos = 0;
  for (let i = 0; i < S.length; i++) {
    const sl = S[i], st = sl.stages;
    fold.ins[i] = x; fold.off[i] = pos;
    let cur = x;
    for (let k = 0; k < st.length; k++) {
      const f = st[k].block.forward(st[k].params, cur);
      fold.fw[pos++] = f;
      const mr = METHOD_RANK[f.method];
      if (mr > rank) rank = mr;
      for (let w = 0; w < f.warnings.length; w++) {
        const msg = `${st[k].label}: ${f.warnings[w]}`;
        warnOnce(msg.replace(/[-\d.e+]+/g, '#'), `layer ${sl.layer} ${sl.kind}: ${msg} (first at this layer)`);
      }
      cur = f.out;
    }
    const added = residualForward(sl.skip, sl.branch, x, cur, d);
    fold.added[i] = added;
    let out = added;
    if (sl.postNorm) { const f = sl.postNorm.block.forward(sl.postNorm.params, added); fold.post[i] = f; out = f.out; }
    x = out;
    fold.count = i + 1;
    if (sl.kind === 'ffn') fold.entries.push(x);
    if (bad(x.var) || bad(x.mean) || bad(added.var)) { fold.explode = sl.layer; break; }
  }
  fold.off[fold.count] = pos;
  fold.x = x;
  fold.method = METHODS[rank];
  return fold;
}

/** The per-sub-layer trace of a forward fold (for `predict` with `trace`). */
function traceOf(plan: Plan, fold: Fold): SubTrace[] {
  const subs: SubTrace[] = [];
  for (let i = 0; i < fold.count; i++) {
    const sl = plan.sublayers[i], base = fold.off[i], x = fold.ins[i];
    const branch: StageTrace[] = sl.stages.map((st, k) => ({ label: st.label, block: st.block.doc.name, params: st.params, input: k === 0 ? x : fold.fw[base + k - 1].out, fwd: fold.fw[base + k] }));
    const branchOut = branch.length ? branch[branch.length - 1].fwd.out : x;
    const added = fold.added[i], pf = fold.post[i];
    const post: StageTrace | undefined = sl.postNorm && pf ? { label: sl.postNorm.label, block: sl.postNorm.block.doc.name, params: sl.postNorm.params, input: added, fwd: pf } : undefined;
    subs.push({ layer: sl.layer, kind: sl.kind, input: x, branch, branchOut, added, post, out: pf ? pf.out : added });
  }
  return subs;
}

/** The backward fold over a forward fold (recording each gradient into `subs` when a trace is
 * kept); returns the first layer whose gradient overflows. */
function foldBackward(plan: Plan, fold: Fold, g: GradMoments, grads: GradMoments[], subs?: SubTrace[]): number | undefined {
  const S = plan.sublayers;
  let explode: number | undefined;
  for (let i = fold.count - 1; i >= 0; i--) {
    const sl = S[i], st = sl.stages, base = fold.off[i], t = subs?.[i];
    if (t) t.gradOut = g;
    let gz = g;
    const pf = fold.post[i];
    if (sl.postNorm && pf) {
      gz = sl.postNorm.block.backward(sl.postNorm.params, fold.added[i], pf, g);
      if (t?.post) { t.post.gradOut = g; t.post.gradIn = gz; }
    }
    let gb = gz;
    for (let k = st.length - 1; k >= 0; k--) {
      const xin = k === 0 ? fold.ins[i] : fold.fw[base + k - 1].out;
      const tr = t?.branch[k];
      if (tr) tr.gradOut = gb;
      gb = st[k].block.backward(st[k].params, xin, fold.fw[base + k], gb);
      if (tr) tr.gradIn = gb;
    }
    const branchOut = st.length ? fold.fw[base + st.length - 1].out : fold.ins[i];
    g = residualBackward(sl.skip, sl.branch, gz, gb, fold.ins[i], branchOut);
    if (t) t.gradIn = g;
    if (sl.kind === 'attn') grads[sl.layer - 1] = g;
    if (explode === undefined && bad(g.var)) explode = sl.layer;
  }
  return explode;
}

export function runPlan(plan: Plan, opts: PredictOptions = {}): Prediction {
  // causal stacks: position-resolved kernel fold (src/causal.ts)
  if (causalFoldApplies(plan)) return runCausalPlan(plan, opts);
  const { cfg } = plan;
  const warnings: string[] = [];
  const seen = new Set<string>();
  const warnOnce = (key: string, msg: string) => { if (!seen.has(key)) { seen.add(key); warnings.push(msg); } };
  // the input is iid Gaussian per feature: per-token mean-square dispersion (2σ⁴ + 4μ²σ²)/(d(σ²+μ²)²)
  const q0 = cfg.input.var + cfg.input.mean * cfg.input.mean;
  const input: Moments = mom(cfg.input.mean, cfg.input.var, cfg.input.r, q0 > 0 ? (2 * (cfg.input.var ** 2 + 2 * cfg.input.mean ** 2 * cfg.input.var)) / (cfg.dModel * q0 * q0) : 0, 1 / cfg.dModel);
  const fold = foldForward(plan, input, warnOnce);
  const { method } = fold;
  const entries: Moments[] = [input, ...fold.entries];
  let finalTrace: StageTrace | undefined;
  if (fold.explode === undefined && plan.finalNorm) {
    const f = plan.finalNorm.block.forward(plan.finalNorm.params, fold.x);
    finalTrace = { label: 'final norm', block: plan.finalNorm.block.doc.name, params: plan.finalNorm.params, input: fold.x, fwd: f };
    entries[entries.length - 1] = f.out;
  }
  const N = cfg.layers;
  if (fold.explode !== undefined) return forwardExplosion(N, entries, fold.explode, warnings, method);
  const subs = opts.trace ? traceOf(plan, fold) : undefined;
  // ---- backward
  const grads: GradMoments[] = new Array(N + 1);
  let g: GradMoments = gmom(1, 0, 1, 1);
  grads[N] = g;
  if (plan.finalNorm && finalTrace) {
    finalTrace.gradOut = g;
    g = plan.finalNorm.block.backward(plan.finalNorm.params, finalTrace.input, finalTrace.fwd, g);
    finalTrace.gradIn = g;
  }
  const bwdExplode = foldBackward(plan, fold, g, grads, subs);
  const pred = assemble(entries, grads, bwdExplode, warnings, method);
  if (subs) pred.trace = { sublayers: subs, finalNorm: finalTrace };
  return pred;
}

/** The prediction from the per-entry forward moments and gradients (null where a gradient
 * overflowed), with the backward-explosion warning and the depth diagnostics. */
export function assemble(entries: Moments[], grads: GradMoments[], bwdExplode: number | undefined, warnings: string[], method: Method): Prediction {
  const layers: LayerResult[] = [];
  for (let l = 0; l < entries.length; l++) {
    const e = entries[l], gg = grads[l];
    const gOk = !bad(gg.var);
    layers.push({ layer: l, mean: e.mean, var: e.var, r: e.r, gradVar: gOk ? gg.var : null, gradR: gOk ? gg.r : null });
  }
  if (bwdExplode !== undefined) warnings.unshift(`gradient variance explodes at layer ${bwdExplode} (exceeds 1e300 going backward); gradients below it are not reported`);
  diagnose(layers, warnings);
  const pred: Prediction = { layers, warnings, method };
  if (bwdExplode !== undefined) pred.explodesAt = { backward: bwdExplode };
  return pred;
}

/** The prediction of a stack whose forward variance overflowed at layer `at`: the layers below it,
 * nulls above, no gradients, and the warning that says so. */
export function forwardExplosion(N: number, entries: Moments[], at: number, warnings: string[], method: Method): Prediction {
  warnings.unshift(`forward variance explodes at layer ${at} (exceeds 1e300); later layers and all gradients are not reported`);
  const layers: LayerResult[] = [];
  for (let l = 0; l <= N; l++) {
    const e = l < at ? entries[l] : undefined;
    layers.push({ layer: l, mean: e ? e.mean : null, var: e ? e.var : null, r: e ? e.r : null, gradVar: null, gradR: null });
  }
  return { layers, warnings, method, explodesAt: { forward: at } };
}

/** Human warnings: explosion/vanishing over depth, rank collapse. */
function diagnose(layers: LayerResult[], warnings: string[]): void {
  const N = layers.length - 1;
  const v0 = layers[0].var ?? 1;
  const big = layers.find((l) => l.var !== null && v0 > 0 && l.var > 1e6 * Math.max(v0, 1e-30));
  if (big) warnings.push(`forward variance grows past 1e6 × input at layer ${big.layer}`);
  const rc = layers.find((l) => l.layer > 0 && l.r !== null && l.r > 0.99);
  if (rc) warnings.push(`rank collapse: token correlation r exceeds 0.99 at layer ${rc.layer}`);
  const gTop = layers[N].gradVar ?? 1;
  for (let l = N; l >= 0; l--) {
    const gv = layers[l].gradVar;
    if (gv === null) break;
    if (gv > 1e6 * gTop) { warnings.push(`gradient explodes: variance exceeds 1e6 × its top value at layer ${l}`); break; }
    if (gv < 1e-6 * gTop) { warnings.push(`gradient vanishes: variance below 1e-6 × its top value at layer ${l}`); break; }
  }
}

export function predictResolved(cfg: ResolvedConfig, opts: PredictOptions = {}): Prediction {
  return runPlan(buildPlan(cfg, opts.formula ?? 'ours'), opts);
}

export type { LayerMoments };
