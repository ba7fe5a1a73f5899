/**
 * The engine: turns a resolved config v1 into a plan of sub-layers (each a list of catalogue
 * blocks), folds the moment state forward through it, then folds the gradient state backward.
 * The state lives in one buffer of Float64Array records that the blocks' kernels read and write
 * (formulas/_core.ts); the catalogue (formulas/) holds every formula.
 */
import type { GradMoments, LayerMoments, Method, Moments } from './types.js';
import type { ResolvedConfig } from './config.js';
import type { Stage, StageTrace } from '../formulas/_chain.js';
import { cosR, GW, iidPairFluct, kernelFor, METHODS, METHOD_RANK, mom, NO_WARNINGS, normalNodes, putGrad, putMoments, R_C, R_METHOD, R_WARN, readGrad, readMoments, RW, setF, setG, type ForwardResult, type Kernel } from '../formulas/_core.js';
import { excessFactor, layernorm, type NormParams } from '../formulas/layernorm.js';
import { rmsnorm } from '../formulas/rmsnorm.js';
import { attention } from '../formulas/attention.js';
import { dropout, type DropoutParams } from '../formulas/dropout.js';
import { linear } from '../formulas/linear.js';
import { ffnStages } from '../formulas/ffn.js';
import { swiglu } from '../formulas/swiglu.js';
import type { AttentionParams } from '../formulas/attention.js';
import { attnHomog, attnPostSpread, batchAlignStep, ffnCrossOverlap, logMeanMomentsAt, ffnPostExcess, ffnPostSpread, HOM_ATTN, HOM_FFN, homogAlign, homogBranch, postSpreadInStack, residualBwdInto, residualFwdInto } from '../formulas/residual.js';
import { variant, type FormulaSet } from '../formulas/index.js';
import { causalFoldApplies, causalFoldOptions, runCausalPlan } from './causal.js';

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

export interface Plan { cfg: ResolvedConfig; sublayers: SubLayer[]; finalNorm?: Stage; /** the published rows (no finite-width gap) */ paper?: boolean }

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
    plan.paper = true;
  }
  planCache[formula].set(cfg, plan);
  return plan;
}

function makePlan(cfg: ResolvedConfig): Plan {
  const subs: SubLayer[] = [];
  const shared = sharedStages(cfg);
  for (let l = 0; l < cfg.layers; l++) { const [a, f] = layerSublayers(cfg, l, shared); subs.push(a, f); }
  return { cfg, sublayers: subs, finalNorm: cfg.finalNorm ? normStage(cfg, 'final norm') : undefined };
}

/** Stages that are the same in every layer (immutable, shared by all sub-layers of a plan), and
 * the last layer's branch stages: a layer whose stds equal the previous layer's reuses its
 * (immutable) stage lists, so a plan of a uniform-init stack holds two small objects per layer,
 * and one with per-layer stds shares every stage that does not depend on them. */
export interface SharedStages {
  norm: Stage; dropout?: Stage;
  /** the stds the last attention / FFN stage list was built for (NaN: none yet) */
  aq: number; av: number; ao: number; attn?: Stage[];
  f1: number; f2: number; f3: number; ffn?: Stage[];
  /** the FFN stages that carry no per-layer std (activation, dropouts), by position */
  ffnFixed?: (Stage | null)[];
}
export function sharedStages(cfg: ResolvedConfig): SharedStages {
  return { norm: normStage(cfg), dropout: cfg.dropout > 0 ? { block: dropout, params: { p: cfg.dropout, d: cfg.dModel }, label: 'dropout' } : undefined, aq: NaN, av: NaN, ao: NaN, f1: NaN, f2: NaN, f3: NaN };
}

/** The two sub-layers (attention, FFN) of layer l (0-based) of a config, exactly as config v1
 * defines them (the advisor builds layer by layer while it sets the stds). */
export function layerSublayers(cfg: ResolvedConfig, l: number, shared: SharedStages = sharedStages(cfg)): [SubLayer, SubLayer] {
  const pre = cfg.norm === 'pre';
  const q = cfg.init.qk[l], v = cfg.init.v[l], o = cfg.init.o[l];
  let attnStages: Stage[];
  if (shared.attn && shared.aq === q && shared.av === v && shared.ao === o) attnStages = shared.attn;
  else {
    attnStages = [];
    if (pre) attnStages.push(shared.norm);
    attnStages.push({
      block: attention,
      params: { dModel: cfg.dModel, heads: cfg.heads, stdQ: q, stdK: q, stdV: v, stdO: o, value: true, seqLen: cfg.seqLen, causal: cfg.causal, attnDropout: cfg.attnDropout },
      label: 'attention',
    });
    if (shared.dropout) attnStages.push(shared.dropout);
    shared.attn = attnStages; shared.aq = q; shared.av = v; shared.ao = o;
  }
  const swi = cfg.activation === 'swiglu';
  const f1 = cfg.init.ffn1[l], f2 = cfg.init.ffn2[l], f3 = swi ? cfg.init.ffn3[l] : 0;
  let ffnSt: Stage[];
  if (shared.ffn && shared.f1 === f1 && shared.f2 === f2 && shared.f3 === f3) ffnSt = shared.ffn;
  else {
    ffnSt = [];
    if (pre) ffnSt.push(shared.norm);
    // the activation dropout only where it differs from its default (dropout): stage params, and so traces, stay as they were
    const actP = cfg.actDropout !== cfg.dropout ? { actDropout: cfg.actDropout } : {};
    if (swi) {
      ffnSt.push({ block: swiglu, params: { dModel: cfg.dModel, dFF: cfg.dFF, std1: f1, std3: f3, std2: f2, dropout: cfg.dropout, ...actP }, label: 'swiglu' });
    } else {
      // stages without a per-layer std (activation, dropouts) are the same objects in every layer
      const st = ffnStages({ dModel: cfg.dModel, dFF: cfg.dFF, activation: cfg.activation as Exclude<typeof cfg.activation, 'swiglu'>, std1: f1, std2: f2, dropout: cfg.dropout, ...actP }, shared.ffnFixed);
      shared.ffnFixed ??= st.map((x) => (x.block === linear ? null : x));
      for (let k = 0; k < st.length; k++) ffnSt.push(st[k]);
    }
    shared.ffn = ffnSt; shared.f1 = f1; shared.f2 = f2; shared.f3 = f3;
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
  /** Seed-to-seed spread of gradVar (Post-LN stacks whose sub-layers above this entry all have a
   * homogeneous branch: formulas/residual.ts; absent elsewhere, not derived). logVar: Var over
   * weight draws of log gradVar as measured on `batch` sequences (PredictOptions.batch; default
   * infinitely many: a model's gradVar averaged over its inputs); typical = exp E log gradVar there
   * (the geometric mean over models; gradVar·exp(−logVar/2) where the log is Gaussian: one sequence,
   * or infinitely many); logVarSequence: Var log gradVar on one input sequence. */
  gradSpread?: { logVar: number; typical: number; logVarSequence: number; gradRPooled?: number };
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

/** A plan compiled for the fold: every branch stage's kernel, params and output record, and per
 * sub-layer the records of its input, residual sum and post-norm. All moment state of a predict
 * lives in one Float64Array of RW-wide records (formulas/_core.ts: the kernel contract); nothing
 * is allocated per stage. Built once per plan. */
interface Compiled {
  /** the kernels' functions in flat arrays (one monomorphic element load per call instead of a
   * megamorphic property load on kernel objects of different shapes) */
  fwd: Kernel<unknown>['fwd'][];
  bwd: Kernel<unknown>['bwd'][];
  prm: unknown[];
  src: Stage[];
  /** output record of each branch stage (flattened over sub-layers) */
  rec: Int32Array;
  /** sub-layer i's stages are first[i] … first[i+1] − 1 */
  first: Int32Array;
  /** per sub-layer: input record, residual-sum record, post-norm record (−1: none), output record */
  rin: Int32Array; add: Int32Array; post: Int32Array; out: Int32Array;
  postK: (Kernel<unknown> | null)[];
  /** per sub-layer: Post-LN with a degree-1 homogeneous branch (HOM_ATTN: attention then only
   * dropouts; HOM_FFN: linears, ReLU, dropouts), else 0; for HOM_FFN without dropout and with two
   * bias-free linears its G_b and W₄ (homGb NaN: ε not derived, alignment only) */
  hom: Int8Array; homGb: Float64Array; homW4: Float64Array;
  /** directions that survive the post-norm's projection (d − 2 LayerNorm, d − 1 RMSNorm) */
  homKeep: Float64Array;
  /** per sub-layer SP numbers: the collapsed spread (attnPostSpread / ffnPostSpread: vM, vN, C, T);
   * NaN: not derived (not Post-LN, a branch that is not homogeneous, dropout) */
  spread: Float64Array;
  final: number; finalK: Kernel<unknown> | null;
  records: number;
  /** per sub-layer: 1 where its forward is the same function of its input record as sub-layer
   * i − 2's (the same kind, the same kernels over the same params objects, λ, β, post-norm and
   * homogeneous-branch numbers, every kernel the block's own: no adapter keeps forward results
   * beside its records), else 0 (foldForward: a stack at its fixed point repeats its records) */
  same: Int8Array;
  /** per sub-layer: its first record (its records are consecutive: branch stages, sum, post-norm) */
  rec0: Int32Array;
}

/** The kernel a stage is folded with: the block's own, or (published-formula variants, composite
 * blocks, params the kernel does not cover) an adapter over its object API that keeps each
 * forward result beside the record it wrote. */
function kernelOf(st: Stage): Kernel<unknown> {
  const b = st.block, own = kernelFor(b, st.params);
  if (own) return own;
  const side = new Map<number, ForwardResult<unknown>>();
  return {
    fwd(p, S, i, o) {
      const f = b.forward(p, readMoments(S, i));
      side.set(o, f);
      putMoments(S, o, f.out);
      S[o + R_METHOD] = METHOD_RANK[f.method];
      S[o + R_WARN] = f.warnings.length;
    },
    bwd(p, S, i, o, G, gi, go) {
      putGrad(G, go, b.backward(p, readMoments(S, i), side.get(o)!, readGrad(G, gi)));
    },
  };
}

const compiledCache = new WeakMap<Plan, Compiled>();
function compiled(plan: Plan, keep = true): Compiled {
  const hit = compiledCache.get(plan);
  if (hit) return hit;
  const S = plan.sublayers, n = S.length;
  let stages = 0;
  for (const sl of S) stages += sl.stages.length;
  const c: Compiled = {
    fwd: new Array(stages), bwd: new Array(stages), prm: new Array(stages), src: new Array(stages), rec: new Int32Array(stages), first: new Int32Array(n + 1),
    rin: new Int32Array(n), add: new Int32Array(n), post: new Int32Array(n), out: new Int32Array(n), postK: new Array(n),
    hom: new Int8Array(n), homGb: new Float64Array(n).fill(NaN), homW4: new Float64Array(n).fill(NaN), homKeep: new Float64Array(n), spread: new Float64Array(SP * n).fill(NaN),
    final: -1, finalK: null, records: 0, same: new Int8Array(n), rec0: new Int32Array(n),
  };
  const own = new Uint8Array(stages);
  let r = 1, k = 0, x = 0; // record 0: the input
  for (let i = 0; i < n; i++) {
    const sl = S[i], st = sl.stages;
    c.first[i] = k; c.rin[i] = x; c.rec0[i] = r;
    for (let j = 0; j < st.length; j++) {
      const kk = kernelOf(st[j]);
      own[k] = kk === st[j].block.kernel ? 1 : 0;
      c.fwd[k] = kk.fwd; c.bwd[k] = kk.bwd; c.prm[k] = st[j].params; c.src[k] = st[j]; c.rec[k++] = r++;
    }
    c.add[i] = r++;
    c.post[i] = sl.postNorm ? r++ : -1;
    c.postK[i] = sl.postNorm ? kernelOf(sl.postNorm) : null;
    if (sl.postNorm) homogeneous(sl, c, i);
    // the post-norm of a homogeneous sub-layer keeps 1 − ε/keep of its input gradient (excessFactor)
    if (c.hom[i] !== 0) c.homKeep[i] = (sl.postNorm!.params as NormParams).d - (sl.postNorm!.block === layernorm ? 2 : 1);
    if (c.hom[i] !== 0) postSpread(sl, c, i);
    x = c.out[i] = sl.postNorm ? c.post[i] : c.add[i];
  }
  c.first[n] = k;
  for (let i = 2; i < n; i++) c.same[i] = sameForward(S, c, own, i, i - 2) ? 1 : 0;
  if (plan.finalNorm) { c.final = r++; c.finalK = kernelOf(plan.finalNorm); }
  c.records = r;
  if (keep) compiledCache.set(plan, c);
  return c;
}

/** Whether sub-layer i's forward records are the same function of its input record as sub-layer j's
 * (Compiled.same). */
function sameForward(S: SubLayer[], c: Compiled, own: Uint8Array, i: number, j: number): boolean {
  const a = S[i], b = S[j], n = c.first[i + 1] - c.first[i];
  if (a.kind !== b.kind || n !== c.first[j + 1] - c.first[j] || !Object.is(a.skip, b.skip) || !Object.is(a.branch, b.branch)) return false;
  for (let q = 0; q < n; q++) {
    const ki = c.first[i] + q, kj = c.first[j] + q;
    if (own[ki] === 0 || c.fwd[ki] !== c.fwd[kj] || c.prm[ki] !== c.prm[kj]) return false;
  }
  const pi = c.postK[i], pj = c.postK[j];
  if (pi !== pj || (pi !== null && (pi !== a.postNorm!.block.kernel || a.postNorm!.params !== b.postNorm!.params))) return false;
  return c.hom[i] === c.hom[j] && Object.is(c.homGb[i], c.homGb[j]) && Object.is(c.homW4[i], c.homW4[j]) && Object.is(c.homKeep[i], c.homKeep[j]);
}
/** Whether two records hold the same numbers (bit for bit up to NaN payloads: −0 and 0 differ). */
function sameRecord(S: Float64Array, x: number, y: number): boolean {
  for (let f = 0; f < RW; f++) {
    const u = S[x + f], v = S[y + f];
    if (u === v ? u === 0 && 1 / u !== 1 / v : u === u || v === v) return false;
  }
  return true;
}

/** Mark a Post-LN sub-layer whose branch is degree-1 homogeneous in its token (homogBranch, shared
 * with src/causal.ts) and keep the FFN's parameter-only gains. */
function homogeneous(sl: SubLayer, c: Compiled, i: number): void {
  if (sl.postNorm!.block !== layernorm && sl.postNorm!.block !== rmsnorm) return;
  c.hom[i] = homogBranch(sl.stages, H2);
  c.homGb[i] = H2[0]; c.homW4[i] = H2[1];
}
const H2 = new Float64Array(2), H3 = new Float64Array(5);

/** Numbers per sub-layer in Compiled.spread. */
const SP = 4;
/** The collapsed seed-to-seed spread of a homogeneous Post-LN sub-layer (formulas/residual.ts),
 * where derived: attention without dropout (value path W_vW_o), the ReLU FFN whose G_b is derived
 * (two bias-free linears, no dropout). */
function postSpread(sl: SubLayer, c: Compiled, i: number): void {
  const d = (sl.postNorm!.params as NormParams).d, l2 = sl.skip * sl.skip, b2 = sl.branch * sl.branch, out = c.spread.subarray(SP * i, SP * i + SP);
  if (c.hom[i] === HOM_FFN) {
    const m = (sl.stages.find((s) => s.block === linear)!.params as { dOut: number }).dOut;
    if (c.homGb[i] === c.homGb[i]) ffnPostSpread(l2, b2, c.homGb[i], d, m, out);
    return;
  }
  const p = sl.stages[0].params as AttentionParams;
  if (sl.stages.length !== 1 || (p.attnDropout ?? 0) !== 0) return;
  attnPostSpread(l2, b2, p.dModel * (p.stdV ?? 0) ** 2 * p.dModel * (p.stdO ?? 0) ** 2, d, out);
}

/**
 * The Post-LN homogeneous-branch terms of sub-layer i (formulas/residual.ts), after its forward
 * fold. FFN: the excess ε into the post-norm's record at R_C (foldBackward scales the norm's input
 * gradient by excessFactor(ε, homKeep) after its plain kernel: no other norm pays for it).
 * Attention (non-causal: every row has n = L keys). The per-row terms (attnHomog at n = L) hold for
 * a gradient whose tokens are independent; a gradient correlated across tokens is not. Derived
 * here, exact in the rank-collapsed limit (all tokens equal: P = 11ᵀ/L exactly, and the Q/K paths
 * vanish since every value is the same), where the sequence map is 𝒜 = λI + β(11ᵀ/L)⊗B: the
 * shared mode (1⊗·) sees the single-token map λ + βB (attnHomog at n = 1: K2 = 1, ΣH = q, J = 0,
 * the gradient orthogonal to the input by Euler), every private mode only λ. A gradient with token
 * correlation r_g puts the fraction w = (1 + (L−1)r_g)/L of its variance in the shared mode, so the
 * per-token removed gain and isotropic gain are R = R_L + ρ(R_1 − R_L), σ_A² = σ_L² + ρ(σ_1² − σ_L²)
 * with ρ = r_g (R_L = λ²s_z + (R_1 − λ²s_z)/L there: the per-row value is the r_g = 0 end), and the
 * alignment likewise a = a_L + ρ(a_1 − a_L). Away from the collapse the cross-token terms carry the
 * overlap of the removed directions ŷ_i·ŷ_k ≈ r (the post-norm's token correlation), which makes
 * ρ = r_g·r: exact at r = 1 and at r_g·r = 0, linear in between (not derived there). r_g is the
 * upstream gradient's, known only in the backward pass: foldBackward mixes the two ends.
 * Post-norm record: R_C ε (written by foldBackward), R_C + 1 … + 4: R_L/s_z, σ_L², R_1/s_z, σ_1²
 * (NaN: ε not derived, dropout); residual-sum record: R_C … + 4: su_L, own_L, su_1, own_1, q.
 */
function homogForward(sl: SubLayer, c: Compiled, i: number, S: Float64Array): void {
  const xi = c.rin[i] * RW, pr = c.post[i] * RW, bo = c.rec[c.first[i + 1] - 1] * RW;
  const l2 = sl.skip * sl.skip, b2 = sl.branch * sl.branch;
  const mu = S[xi], s = S[xi + 1], q = s + mu * mu;
  S[pr + R_C] = 0;
  if (c.hom[i] === HOM_FFN) {
    const Gb = c.homGb[i];
    if (Gb === Gb) S[pr + R_C] = ffnPostExcess(l2, b2, q, S[bo + 1] + S[bo] * S[bo], Gb, c.homW4[i]);
    return;
  }
  const k0 = c.first[i], p = c.prm[k0] as AttentionParams, ao = c.rec[k0] * RW;
  const sF = S[ao + 1] + S[ao] * S[ao]; // the attention output (before a dropout)
  const d = p.dModel, L = p.seqLen, pa = p.attnDropout ?? 0;
  const vGain = d * (p.stdV ?? 0) ** 2, oGain = d * (p.stdO ?? 0) ** 2, qk = d * p.stdQ * p.stdQ * d * p.stdK * p.stdK;
  const hO = S[xi + 2] * s + mu * mu; // E[x_if x_jf], two distinct tokens
  const pk = Math.max(q - hO, 0); // private key variance
  // the attention kernel's K2 = L²E[p²] and softmax Jacobian gain J at the row logit variance
  // qk·q·pk, both averaged over the rows' logit variance (formulas/attention.ts kernel fwd)
  const K2 = S[ao + R_C + 7], J = S[ao + R_C + 8];
  const noDrop = c.first[i + 1] - k0 === 1 && pa === 0;
  const a = c.add[i] * RW;
  attnHomog(l2, b2, vGain, oGain, qk, q, q + (L - 1) * hO, K2, L, sF, pk, J, pa, noDrop, H3);
  S[pr + R_C + 1] = H3[3]; S[pr + R_C + 2] = H3[4]; S[a + R_C] = H3[1]; S[a + R_C + 1] = H3[2];
  attnHomog(l2, b2, vGain, oGain, qk, q, q, 1, 1, sF, pk, 0, pa, noDrop, H3);
  S[pr + R_C + 3] = H3[3]; S[pr + R_C + 4] = H3[4]; S[a + R_C + 2] = H3[1]; S[a + R_C + 3] = H3[2];
  S[a + R_C + 4] = q;
}

/** The attention sub-layer's mix weight ρ = r_g·r between the per-row and the shared-mode terms
 * (homogForward), from the upstream gradient's correlation and the post-norm output's. */
function homogRho(rg: number, r: number): number {
  const x = rg * r;
  return x > 0 ? (x < 1 ? x : 1) : 0;
}

const DROP_FWD = dropout.kernel!.fwd, DROP_BWD = dropout.kernel!.bwd;

/**
 * The input gradient's token correlation after a homogeneous attention sub-layer whose post-norm
 * excess scaled the gradient by f (derived here). In the collapsed limit the gradient splits into
 * the shared mode (token mean; share w = (1 + (L − 1)r_g)/L of the variance), which the branch sees
 * through λ + βB, and the private modes, which see λ only. The direction the post-norm removes has
 * an excess gain for the shared mode alone (the private modes' map is the identity: isotropic), and
 * the mixed excess ε (foldBackward) already gives the right total loss, w·ε₁ of the shared mode's
 * gain; but scaling the whole gradient by f takes it from both modes in proportion. So the private
 * part of the sub-layer's input gradient is (1 − w_out)/f of it, the shared part the rest:
 * w' = 1 − (1 − w_out)/f. Without this the shared mode gained ×1.0345 through the top attention
 * sub-layer of a collapsed d = 64, L = 32 stack against ×1.016 in a float64 simulation with the modes
 * apart (scripts/postln-collapsed-stack.py), and the expectation ran 5–10 % high through the
 * hand-over. Away from the collapse (tokens independent, forward r → 0) the excess is per row and
 * leaves the correlation alone: the change is weighted by the post-norm's forward r (as homogRho),
 * not derived between.
 */
function excessShared(rg: number, f: number, L: number, rFwd: number): number {
  if (!(L > 1) || !(f > 0) || f >= 1 || !(rg === rg)) return rg;
  const w = (1 + (L - 1) * rg) / L, w2 = Math.min(Math.max(1 - (1 - w) / f, 0), 1), r2 = (L * w2 - 1) / (L - 1);
  const a = rFwd > 0 ? (rFwd < 1 ? rFwd : 1) : 0;
  return rg + a * (r2 - rg);
}

/** One fold buffer, reused across calls (a predict is synchronous; a nested one gets its own). */
let pool: Float64Array | null = null;
function takeBuffer(n: number): Float64Array {
  const b = pool !== null && pool.length >= n ? pool : new Float64Array(Math.max(n, 1024));
  pool = null;
  return b;
}
function giveBack(b: Float64Array): void { pool = b; }

/** The forward fold over the compiled records: per sub-layer the branch stages, the residual add
 * and the post-norm. Returns the number of sub-layers folded, the weakest method's rank and the
 * layer whose forward variance overflowed (if any). */
function foldForward(plan: Plan, c: Compiled, S: Float64Array, fw: Float64Array, warnOnce: (key: string, msg: string) => void, gap: boolean): { count: number; rank: number; explode?: number } {
  const subs = plan.sublayers, d = plan.cfg.dModel, fwd = c.fwd, prm = c.prm, rec = c.rec, first = c.first;
  let rank = 0, count = 0, explode: number | undefined, e = 1;
  for (let i = 0; i < subs.length; i++) {
    const sl = subs[i], xi = c.rin[i] * RW, a = c.add[i] * RW;
    let warned = false, cur = xi;
    if (c.same[i] !== 0 && sameRecord(S, xi, c.rin[i - 2] * RW)) {
      // the same forward of the same input as sub-layer i − 2 (a stack at its fixed point): its
      // records, bit for bit
      const r0 = c.rec0[i - 2] * RW;
      S.copyWithin(c.rec0[i] * RW, r0, (c.out[i - 2] + 1) * RW);
      for (let k = c.first[i]; k < c.first[i + 1]; k++) {
        const o = c.rec[k] * RW;
        if (S[o + R_METHOD] > rank) rank = S[o + R_METHOD];
        if (S[o + R_WARN] !== 0) warned = true;
      }
    } else {
      for (let k = first[i], k1 = first[i + 1]; k < k1; k++) {
        const o = rec[k] * RW, f = fwd[k];
        // the dropout stages (three per layer) through a call site of their own, where V8 inlines them
        if (f === DROP_FWD) DROP_FWD(prm[k] as DropoutParams, S, cur, o); else f(prm[k], S, cur, o);
        if (S[o + R_METHOD] > rank) rank = S[o + R_METHOD];
        if (S[o + R_WARN] !== 0) warned = true;
        cur = o;
      }
      residualFwdInto(sl.skip, sl.branch, S, xi, cur, a, d);
      const pk = c.postK[i];
      if (pk) {
        pk.fwd(sl.postNorm!.params, S, a, c.post[i] * RW);
        if (c.hom[i] !== 0 && causalFoldOptions.postHomogeneous) homogForward(sl, c, i, S);
      }
    }
    // the post-norm's (and, below, the final norm's) domain warning (formulas/layernorm.ts)
    if (sl.postNorm && S[c.post[i] * RW + R_WARN] !== 0) stageWarnings(sl, sl.postNorm, S, a, warnOnce);
    if (warned) {
      for (let k = c.first[i]; k < c.first[i + 1]; k++) {
        if (S[c.rec[k] * RW + R_WARN] !== 0) stageWarnings(sl, c.src[k], S, k === c.first[i] ? xi : c.rec[k - 1] * RW, warnOnce);
      }
    }
    const out = c.out[i] * RW;
    count = i + 1;
    if (sl.kind === 'ffn') putEntry(fw, e++, S, out, gap);
    if (bad(S[out + 1]) || bad(S[out]) || bad(S[a + 1])) { explode = sl.layer; break; }
  }
  return { count, rank, explode };
}

/** A flagged stage's warnings (recomputed by the block from its input record at x), once per kind. */
function stageWarnings(sl: SubLayer, st: Stage, S: Float64Array, x: number, warnOnce: (key: string, msg: string) => void): void {
  for (const w of st.block.forward(st.params, readMoments(S, x)).warnings) {
    const msg = `${st.label}: ${w}`;
    warnOnce(msg.replace(/[-\d.e+]+/g, '#'), `layer ${sl.layer} ${sl.kind}: ${msg} (first at this layer)`);
  }
}

/** Gradient scratch: the sub-layer's upstream (and, after the residual, input) gradient at 0, the
 * post-norm's input gradient at GW, the branch stages ping-pong between 2GW and 3GW. */
const GZ = GW, GA = 2 * GW, GB = 3 * GW;

/** The backward fold over `count` folded sub-layers (recording each gradient into `subs` when a
 * trace is kept); the upstream gradient is in G[0…]. Returns the first layer whose gradient
 * overflows. */
function foldBackward(plan: Plan, c: Compiled, S: Float64Array, G: Float64Array, count: number, gw: Float64Array, subs?: SubTrace[]): number | undefined {
  const L = plan.sublayers, bwd = c.bwd, prm = c.prm, rec = c.rec;
  let explode: number | undefined;
  for (let i = count - 1; i >= 0; i--) {
    const sl = L[i], t = subs?.[i], xi = c.rin[i] * RW;
    if (t) t.gradOut = readGrad(G, 0);
    let gz = 0, rho = 0, fx = 1;
    const pk = c.postK[i];
    if (pk && c.hom[i] === HOM_ATTN && causalFoldOptions.postHomogeneous) {
      const pr = c.post[i] * RW, RL = S[pr + R_C + 1];
      rho = homogRho(G[1], S[pr + 2]);
      if (RL === RL) S[pr + R_C] = Math.max((RL + rho * (S[pr + R_C + 3] - RL)) / (S[pr + R_C + 2] + rho * (S[pr + R_C + 4] - S[pr + R_C + 2])) - 1, 0);
    }
    if (pk) {
      pk.bwd(sl.postNorm!.params, S, c.add[i] * RW, c.post[i] * RW, G, 0, GZ);
      if (c.hom[i] !== 0 && causalFoldOptions.postHomogeneous) { const e = S[c.post[i] * RW + R_C]; if (e > 0) G[GZ] *= (fx = excessFactor(e, c.homKeep[i])); }
      gz = GZ;
      if (t?.post) { t.post.gradOut = readGrad(G, 0); t.post.gradIn = readGrad(G, GZ); }
    }
    let gb = gz, nxt = GA;
    const k0 = c.first[i];
    if (t) {
      for (let k = c.first[i + 1] - 1; k >= k0; k--) {
        const tr = t.branch[k - k0];
        if (tr) tr.gradOut = readGrad(G, gb);
        bwd[k](prm[k], S, k === k0 ? xi : rec[k - 1] * RW, rec[k] * RW, G, gb, nxt);
        if (tr) tr.gradIn = readGrad(G, nxt);
        gb = nxt; nxt = nxt === GA ? GB : GA;
      }
    } else {
      for (let k = c.first[i + 1] - 1; k >= k0; k--) {
        const f = bwd[k];
        const ii = k === k0 ? xi : rec[k - 1] * RW, o = rec[k] * RW;
        if (f === DROP_BWD) DROP_BWD(prm[k] as DropoutParams, S, ii, o, G, gb, nxt); else f(prm[k], S, ii, o, G, gb, nxt);
        gb = nxt; nxt = nxt === GA ? GB : GA;
      }
    }
    const bo = c.first[i + 1] > k0 ? c.rec[c.first[i + 1] - 1] * RW : xi;
    let align = NaN;
    if (pk && c.hom[i] !== 0 && causalFoldOptions.postHomogeneous) {
      // Euler: g_x·x = g_z·z = 0; FFN exactly 0, attention what breaks homogeneity at the token
      // (per row, and in the shared mode: homogForward)
      if (c.hom[i] === HOM_FFN) align = 0;
      else {
        const a = c.add[i] * RW, l2 = sl.skip * sl.skip, b2 = sl.branch * sl.branch, q = S[a + R_C + 4];
        const aL = homogAlign(l2, b2, G[GZ], G[gb], q, S[a + R_C], S[a + R_C + 1]);
        align = aL + rho * (homogAlign(l2, b2, G[GZ], G[gb], q, S[a + R_C + 2], S[a + R_C + 3]) - aL);
      }
    }
    residualBwdInto(sl.skip, sl.branch, G, gz, gb, 0, S, xi, bo);
    if (align === align && G[0] > 0) G[2] = align;
    if (fx < 1 && c.hom[i] === HOM_ATTN) G[1] = excessShared(G[1], fx, plan.cfg.seqLen, S[c.post[i] * RW + 2]);
    if (t) t.gradIn = readGrad(G, 0);
    if (sl.kind === 'attn') { gw[GE * (sl.layer - 1)] = G[0]; gw[GE * (sl.layer - 1) + 1] = G[1]; }
    if (explode === undefined && bad(G[0])) explode = sl.layer;
  }
  return explode;
}

/** The forward result of a folded stage, for a trace. */
function stageResult(st: Stage, S: Float64Array, i: number, o: number): ForwardResult<null> {
  const warnings = S[o + R_WARN] !== 0 ? st.block.forward(st.params, readMoments(S, i)).warnings : NO_WARNINGS;
  return { out: readMoments(S, o), method: METHODS[S[o + R_METHOD]], warnings, cache: null };
}

/** The per-sub-layer trace of a forward fold (for `predict` with `trace`). */
function traceOf(plan: Plan, c: Compiled, S: Float64Array, count: number): SubTrace[] {
  const subs: SubTrace[] = [];
  for (let i = 0; i < count; i++) {
    const sl = plan.sublayers[i], xi = c.rin[i] * RW, k0 = c.first[i];
    const branch: StageTrace[] = sl.stages.map((st, k) => {
      const ii = k === 0 ? xi : c.rec[k0 + k - 1] * RW;
      return { label: st.label, block: st.block.doc.name, params: st.params, input: readMoments(S, ii), fwd: stageResult(st, S, ii, c.rec[k0 + k] * RW) };
    });
    const x = readMoments(S, xi);
    const branchOut = branch.length ? branch[branch.length - 1].fwd.out : x;
    const added = readMoments(S, c.add[i] * RW);
    const post: StageTrace | undefined = sl.postNorm ? { label: sl.postNorm.label, block: sl.postNorm.block.doc.name, params: sl.postNorm.params, input: added, fwd: stageResult(sl.postNorm, S, c.add[i] * RW, c.post[i] * RW) } : undefined;
    subs.push({ layer: sl.layer, kind: sl.kind, input: x, branch, branchOut, added, post, out: post ? post.fwd.out : added });
  }
  return subs;
}

/** `keep` false: the compiled plan is not remembered (a plan predicted once; a WeakMap entry would
 * keep it alive through young-generation collections until the next full one). */
export function runPlan(plan: Plan, opts: PredictOptions = {}, keep = true): Prediction {
  // causal stacks: position-resolved kernel fold (src/causal.ts)
  if (causalFoldApplies(plan)) return borrowSpread(runCausalPlan(plan, opts), plan, opts);
  const { cfg } = plan;
  const warnings: string[] = [];
  const seen = new Set<string>();
  const warnOnce = (key: string, msg: string) => { if (!seen.has(key)) { seen.add(key); warnings.push(msg); } };
  // the input is iid Gaussian per feature: per-token mean-square dispersion (2σ⁴ + 4μ²σ²)/(d(σ²+μ²)²)
  const q0 = cfg.input.var + cfg.input.mean * cfg.input.mean;
  const input: Moments = mom(cfg.input.mean, cfg.input.var, cfg.input.r, q0 > 0 ? (2 * (cfg.input.var ** 2 + 2 * cfg.input.mean ** 2 * cfg.input.var)) / (cfg.dModel * q0 * q0) : 0, 1 / cfg.dModel);
  const c = compiled(plan, keep);
  const S = takeBuffer(c.records * RW);
  try {
    putMoments(S, 0, input);
    const gap = !plan.paper;
    if (gap) { const [k2, ka] = iidPairFluct(cfg.input.mean, cfg.input.var, cfg.input.r, cfg.dModel); setF(S, 0, k2, ka); }
    const N = cfg.layers;
    const fw = new Float64Array(FE * (N + 1));
    putEntry(fw, 0, S, 0, gap);
    const fold = foldForward(plan, c, S, fw, warnOnce, gap);
    const method = METHODS[fold.rank];
    const last = fold.count > 0 ? c.out[fold.count - 1] * RW : 0;
    let finalTrace: StageTrace | undefined;
    if (fold.explode === undefined && plan.finalNorm) {
      c.finalK!.fwd(plan.finalNorm.params, S, last, c.final * RW);
      if (S[c.final * RW + R_WARN] !== 0) for (const w of plan.finalNorm.block.forward(plan.finalNorm.params, readMoments(S, last)).warnings) warnOnce(`final: ${w.replace(/[-\d.e+]+/g, '#')}`, `after layer ${N}: ${plan.finalNorm.label}: ${w}`);
      putEntry(fw, N, S, c.final * RW, gap);
      if (opts.trace) finalTrace = { label: 'final norm', block: plan.finalNorm.block.doc.name, params: plan.finalNorm.params, input: readMoments(S, last), fwd: stageResult(plan.finalNorm, S, last, c.final * RW) };
    }
    if (fold.explode !== undefined) return forwardExplosion(N, fw, fold.explode, warnings, method);
    const subs = opts.trace ? traceOf(plan, c, S, fold.count) : undefined;
    // ---- backward
    const gw = new Float64Array(GE * (N + 1));
    const G = new Float64Array(4 * GW);
    setG(G, 0, 1, 0, 1, 1);
    gw[GE * N] = 1; gw[GE * N + 1] = 0;
    if (plan.finalNorm) {
      setG(G, GZ, 1, 0, 1, 1);
      c.finalK!.bwd(plan.finalNorm.params, S, last, c.final * RW, G, GZ, 0);
      if (finalTrace) { finalTrace.gradOut = readGrad(G, GZ); finalTrace.gradIn = readGrad(G, 0); }
    }
    // the seed-to-seed spread (Post-LN stacks whose top sub-layer's is derived)
    const spread = fold.count === plan.sublayers.length && c.spread[SP * (fold.count - 1)] === c.spread[SP * (fold.count - 1)];
    const bwdExplode = foldBackward(plan, c, S, G, fold.count, gw, subs);
    const pred = assemble(fw, gw, bwdExplode, warnings, method);
    if (spread) attachSpread(pred, spreadOf(plan, c, S, gw, opts.batch ?? Infinity));
    if (subs) pred.trace = { sublayers: subs, finalNorm: finalTrace };
    return pred;
  } finally {
    giveBack(S);
  }
}

/** Entries of a prediction packed FE numbers each (mean, var, r), and their gradients GE numbers
 * each (var, r): the folds write them without building an object per entry. */
export const FE = 3, GE = 2;
/** An entry's reported moments: config v1's r is the mean per-pair cosine, the record's r the pooled
 * ratio; `gap` adds their finite-width difference (formulas/_core.ts cosGap; 0 for a norm's output,
 * whose token norms are fixed, and where the pair fluctuations are unknown). */
function putEntry(fw: Float64Array, l: number, S: Float64Array, o: number, gap: boolean): void {
  fw[FE * l] = S[o]; fw[FE * l + 1] = S[o + 1]; fw[FE * l + 2] = gap ? cosR(S, o) : S[o + 2];
}
/** Pack per-entry moments / gradients (folds that keep objects: src/causal.ts). */
export function packEntries(entries: readonly Moments[], N: number): Float64Array {
  const fw = new Float64Array(FE * (N + 1));
  for (let l = 0; l < entries.length; l++) { fw[FE * l] = entries[l].mean; fw[FE * l + 1] = entries[l].var; fw[FE * l + 2] = entries[l].r; }
  return fw;
}
export function packGrads(grads: readonly GradMoments[]): Float64Array {
  const gw = new Float64Array(GE * grads.length);
  for (let l = 0; l < grads.length; l++) { gw[GE * l] = grads[l].var; gw[GE * l + 1] = grads[l].r; }
  return gw;
}

/** The prediction from the packed per-entry forward moments and gradients (null where a gradient
 * overflowed), with the backward-explosion warning and the depth diagnostics. */
export function assemble(fw: Float64Array, gw: Float64Array, bwdExplode: number | undefined, warnings: string[], method: Method): Prediction {
  const n = fw.length / FE;
  const layers: LayerResult[] = new Array(n);
  for (let l = 0; l < n; l++) {
    const gv = gw[GE * l], gOk = !bad(gv);
    layers[l] = { layer: l, mean: fw[FE * l], var: fw[FE * l + 1], r: fw[FE * l + 2], gradVar: gOk ? gv : null, gradR: gOk ? gw[GE * l + 1] : null };
  }
  if (bwdExplode !== undefined) warnings.unshift(`gradient variance explodes at layer ${bwdExplode} (exceeds 1e300 going backward); gradients below it are not reported`);
  diagnose(layers, warnings);
  const pred: Prediction = { layers, warnings, method };
  if (bwdExplode !== undefined) pred.explodesAt = { backward: bwdExplode };
  return pred;
}

/** The prediction of a stack whose forward variance overflowed at layer `at`: the layers below it
 * (packed as for assemble), nulls above, no gradients, and the warning that says so. */
export function forwardExplosion(N: number, fw: Float64Array, at: number, warnings: string[], method: Method, why = 'exceeds 1e300'): Prediction {
  warnings.unshift(`forward variance explodes at layer ${at} (${why}); later layers and all gradients are not reported`);
  const layers: LayerResult[] = [];
  for (let l = 0; l <= N; l++) {
    const ok = l < at;
    layers.push({ layer: l, mean: ok ? fw[FE * l] : null, var: ok ? fw[FE * l + 1] : null, r: ok ? fw[FE * l + 2] : null, gradVar: null, gradR: null });
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

/**
 * The seed-to-seed spread of gradVar per entry (formulas/residual.ts: the collapsed sub-layer spread,
 * its token-structure weights, the batch's shared and own parts), from the top down; NaN from the
 * first sub-layer whose spread is not derived downward. The top entry has none (the loss gradient;
 * a final norm over a Post-LN output has an input of unit mean square exactly). Per entry SE numbers:
 * Var log gradVar measured on `batch` sequences, E log(gradVar/expectation) there, and Var log
 * gradVar on one sequence.
 */
function spreadOf(plan: Plan, c: Compiled, S: Float64Array, gw: Float64Array, batch: number): Float64Array {
  const subs = plan.sublayers, n = subs.length, N = plan.cfg.layers, L = plan.cfg.seqLen, out = new Float64Array(SE * (N + 1)).fill(NaN);
  // the overlap of two sequences' tokens at each sub-layer's input (independent inputs: their shared mean)
  const rx = new Float64Array(n), q0 = plan.cfg.input.var + plan.cfg.input.mean ** 2;
  let r = q0 > 0 ? plan.cfg.input.mean ** 2 / q0 : 0;
  for (let i = 0; i < n; i++) {
    rx[i] = r;
    if (c.hom[i] === HOM_FFN) r = ffnCrossOverlap(subs[i].skip ** 2, c.spread[SP * i + 3], r);
  }
  // per entry: the part A of Var log gradVar the batch's sequences share (forward, ρ_x²; the shared
  // mode's backward gains, o²: batchAlignStep) and the part I each has on its own. The shared-mode share w of the gradient: the running maximum from the top
  // of (1 + (L−1)r_g)/L (private modes that come from the top only fade going down; where the
  // gradient decorrelates again near the input, the private part is the shared mode's, leaked
  // through a forward that is not yet collapsed, and carries its fluctuation)
  const As = new Float64Array(N + 1).fill(NaN), Is = new Float64Array(N + 1).fill(NaN);
  // and, for the reported gradR (gradRSeedMean), the log-variances of the shared mode's and the
  // private modes' norms on one sequence: their gains, and the shared mode's start, the token mean of
  // the injected G (|ḡ|² a χ²_d/d multiple: Var log 2/d; the private modes' start averages L − 1 of them)
  const Vs = new Float64Array(N + 1).fill(NaN), Vp = new Float64Array(N + 1).fill(NaN);
  const d = plan.cfg.dModel, vs0 = 2 / d, vp0 = L > 1 ? 2 / ((L - 1) * d) : 0;
  // BC: the part of BS the sequences share, Σ o²·vN (their gradients' squared overlap o² at each
  // sub-layer's output: batchAlignStep, 1/d at the top)
  let A = 0, F = 0, BS = 0, BP = 0, BC = 0, o2 = 1 / d, w = L > 1 ? 1 / L : 1;
  As[N] = Is[N] = 0; Vs[N] = vs0; Vp[N] = vp0;
  for (let i = n - 1; i >= 0; i--) {
    const sl = subs[i], o = SP * i;
    if (!(c.spread[o] === c.spread[o])) break;
    postSpreadInStack(sl.kind === 'attn', c.spread[o], c.spread[o + 1], c.spread[o + 2], L, S[c.rin[i] * RW + 2], H3);
    const sh = H3[2] * rx[i] * rx[i];
    A += sh; F += H3[2] - sh; BS += H3[0]; BP += H3[1]; BC += o2 * H3[0];
    o2 = batchAlignStep(o2, c.spread[o + 1], sl.kind === 'attn', sl.skip ** 2, c.spread[o + 3], rx[i]);
    if (sl.kind === 'attn') {
      const l = sl.layer - 1, rg = gw[GE * l + 1];
      if (L > 1) w = Math.min(Math.max(w, (1 + (L - 1) * rg) / L), 1);
      As[l] = A + w * w * BC; Is[l] = F + w * w * (BS - BC) + (1 - w) ** 2 * BP; Vs[l] = vs0 + BS; Vp[l] = vp0 + BP;
    }
  }
  const m = new Float64Array(2 * (N + 1));
  logMeanMomentsAt(Is.map((x) => (x === x ? x : 0)), batch, m);
  for (let l = 0; l <= N; l++) {
    if (!(As[l] === As[l])) continue;
    out[SE * l] = As[l] + m[2 * l + 1]; out[SE * l + 1] = m[2 * l] - As[l] / 2; out[SE * l + 2] = As[l] + Is[l];
    out[SE * l + 3] = Vs[l] + Vp[l]; out[SE * l + 4] = Vs[l] - Vp[l];
  }
  return out;
}
const SE = 5;

/** The per-entry spread into a prediction (where derived), and the warning when it is large at the
 * bottom: a mean over a few models then falls well short of the expectation. */
function attachSpread(pred: Prediction, gs: Float64Array): void {
  let k = -1;
  for (const L of pred.layers) {
    const v = gs[SE * L.layer];
    if (!(v === v) || L.gradVar === null) continue;
    L.gradSpread = { logVar: v, typical: L.gradVar * Math.exp(gs[SE * L.layer + 1]), logVarSequence: gs[SE * L.layer + 2] };
    if (v >= HEAVY_LOGVAR && L.layer > k) k = L.layer;
  }
  // the reported gradR as the mean over models of each sequence's cosine (gradRSeedMean), from the
  // top down as long as the pooled ratio keeps rising: where it falls again, towards the input, the
  // forward is not yet collapsed and the gradient decorrelates by mixing the modes (the shared one
  // leaking into token differences through non-uniform attention rows and per-token FFN masks),
  // which the collapsed-mode spread does not describe — the pooled ratio is kept there (4096-seed
  // d = 64, N = 12: entries 0–3 0.561 / 0.581 / 0.629 / 0.692 pooled vs 0.559 / 0.589 / 0.633 / 0.676
  // measured; carrying the spread below the maximum gave 0.504 … 0.631)
  let gm = -Infinity;
  for (let l = pred.layers.length - 1; l >= 0; l--) {
    const L = pred.layers[l], g = L.gradR;
    if (g === null || !L.gradSpread) continue;
    if (g < gm) break;
    gm = g;
    const vx = gs[SE * l + 3];
    if (g > 0 && g < 1 && vx > 0) {
      L.gradSpread.gradRPooled = g;
      L.gradR = gradRSeedMean(g, vx, gs[SE * l + 4]);
    }
  }
  warnHeavy(pred, k, '');
}
/**
 * The reported gradR of a collapsed Post-LN stack as the mean over models and sequences of each
 * sequence's per-pair cosine, from the pooled ratio g the fold propagates (derived here). Below the
 * top the gradient is a shared mode u (the token mean) plus private modes p_i, so one sequence's
 * per-pair cosine is S/(S + P) (S = |u|², P = |p_i|², d large) while the fold's ratio is
 * E[S]/E[S + P] over models. S and P carry the gains of the sub-layers above (formulas/residual.ts
 * postSpreadInStack: the shared mode sees λ + βJᵀ, the private modes λ (attention) or Jᵀ on
 * independent directions (FFN)), log-Gaussian and independent; the forward normalisation is common
 * to both and cancels. With X = ln S − ln P ~ N(μ, V_S + V_P) and E[S]/E[P] = g/(1 − g) =
 * e^{μ + (V_S − V_P)/2}: the reported value is E[σ(X)] (a sequence whose shared mode grew more than
 * the expectation counts once, not by its weight in the pooled sums: the pooled ratio over-weights
 * them). vx = V_S + V_P, dx = V_S − V_P. Where the tail cannot move the value by 1e-12 the ratio is
 * kept (E[σ(−X)] ≤ E[e^{−X}]).
 */
export function gradRSeedMean(g: number, vx: number, dx: number): number {
  const o = (1 - g) / g, mu = -Math.log(o) - dx / 2;
  // E[P/S] = o·e^{V_S} (V_S = (vx + dx)/2) bounds the move from the pooled value
  if (o * Math.exp((vx + dx) / 2) < 1e-12) return g;
  const s = Math.sqrt(vx);
  let e = 0;
  for (let i = 0; i < SIG_NODES.z.length; i++) e += SIG_NODES.w[i] / (1 + Math.exp(-(mu + s * SIG_NODES.z[i])));
  return e;
}
const SIG_NODES = normalNodes([], 12);
/**
 * A causal Post-LN stack's seed-to-seed spread of gradVar, carried over from the same stack without
 * the mask (an approximation, not derived for the causal token structure): below the top the
 * forward is the same collapsed single-token chain, whose per-sub-layer gains make the spread
 * (formulas/residual.ts), and the causal rows only redistribute the gradient over positions. The
 * 4096-seed PyTorch runs of the grid's d = 64 cases measure the same ln-std of layer-0 gradVar with
 * and without the mask: 0.68 / 1.73 / 2.61 / 3.93 causal vs 0.69 / 1.74 / 2.66 / 3.99 plain at
 * N = 12 / 48 / 96 / 192. logVar and logVarSequence are the unmasked stack's; typical is this
 * stack's gradVar times the unmasked typical/expectation ratio. The reported gradR is not touched
 * (gradRSeedMean is not derived for causal rows).
 */
function borrowSpread(pred: Prediction, plan: Plan, opts: PredictOptions): Prediction {
  if (plan.paper || !plan.sublayers.some((sl) => sl.postNorm)) return pred;
  const twin = runPlan(makePlan({ ...plan.cfg, causal: false }), opts, false);
  let k = -1;
  for (const L of pred.layers) {
    const t = twin.layers[L.layer]?.gradSpread, tv = twin.layers[L.layer]?.gradVar;
    if (!t || L.gradVar === null || !tv) continue;
    L.gradSpread = { logVar: t.logVar, typical: L.gradVar * (t.typical / tv), logVarSequence: t.logVarSequence };
    if (t.logVar >= HEAVY_LOGVAR && L.layer > k) k = L.layer;
  }
  warnHeavy(pred, k, ' (carried over from the same stack without the causal mask)');
  return pred;
}
/** The warning where the spread is heavy (k: the highest entry with logVar ≥ HEAVY_LOGVAR, −1 for none). */
function warnHeavy(pred: Prediction, k: number, source: string): void {
  const s0 = pred.layers[0].gradSpread;
  // (the ratio is 0/0 where the expectation itself is 0: then the clause is left out, never "×NaN")
  const ratio = s0 ? s0.typical / pred.layers[0].gradVar! : NaN;
  const typical = Number.isFinite(ratio) ? `, where a single model's gradVar is typically ×${ratio.toPrecision(2)} the expectation` : '';
  if (k >= 0 && s0) pred.warnings.push(`gradient heavy-tailed across seeds below layer ${k}: Var log gradVar ${s0.logVar.toPrecision(3)} at layer 0${source}${typical} (geometric mean over models; a mean over a few seeds falls short of the expectation)`);
}
/** log-variance from which the spread is warned about (a typical model's gradVar ≈ ×0.6 the
 * expectation); verify/compare.ts heavyTailCheck re-judges gradVar misses from the same value */
export const HEAVY_LOGVAR = 1;

/** predictResolved without keeping the plan for later calls (a search that predicts many configs
 * once each: the plans die young instead of living as long as their configs). */
export function predictOnce(cfg: ResolvedConfig): Prediction {
  return runPlan(makePlan(cfg), {}, false);
}

export function predictResolved(cfg: ResolvedConfig, opts: PredictOptions = {}): Prediction {
  return runPlan(buildPlan(cfg, opts.formula ?? 'ours'), opts);
}

export type { LayerMoments };
