/**
 * The engine folds a stack through typed-array records (formulas/_core.ts kernels, src/engine.ts).
 * This checks that wiring — record offsets, the gradient ping-pong, residual adds, post-norms, the
 * final norm, which entries and gradients are reported — against an independent, deliberately
 * naive fold written here over the blocks' object API (block.forward / block.backward and the
 * object residualForward / residualBackward), sub-layer by sub-layer exactly as config v1 states:
 * pre:  x ← λx + β·Branch(x) (the branch starts with the norm), post: x ← Norm(λx + β·Branch(x)).
 * Both evaluate the same formulas, so they must agree to rounding (1e-12 relative); a wiring slip
 * (a stage reading the wrong record, a gradient slot overwritten early) shows up as O(1) errors.
 * Post-LN sub-layers with a homogeneous branch (attention, ReLU FFN) carry two more terms
 * (formulas/residual.ts: the norm's excess ε and the input gradient's alignment); the naive fold
 * applies them from the object moments, so their record slots are checked too.
 */
import { describe, expect, it } from 'vitest';
import { buildPlan, predictResolved } from '../src/engine.js';
import { resolveConfig } from '../src/config.js';
import { residualBackward, residualForward } from '../formulas/residual.js';
import type { GradMoments, Moments } from '../src/types.js';
import { R_C, type ForwardResult } from '../formulas/_core.js';
import { attnHomog, ffnHomogGains, ffnPostExcess, homogAlign } from '../formulas/residual.js';
import { excessFactor, layernorm } from '../formulas/layernorm.js';
import { attention, attnSoftmaxStats, type AttentionParams } from '../formulas/attention.js';
import { dropout } from '../formulas/dropout.js';
import { linear, type LinearParams } from '../formulas/linear.js';
import { relu } from '../formulas/relu.js';

/** ε and the alignment parts (su, own, q) of a Post-LN sub-layer with a homogeneous branch, from object moments. */
interface Homog { e: number; attn?: { L: number[]; one: number[]; q: number } }
/** ε (FFN) or the per-row (n = L) and shared-mode (n = 1) attention parts [ε, su, own, R/s_z, σ_A²]. */
function homog(sl: ReturnType<typeof buildPlan>['sublayers'][number], x: Moments, st: { x: Moments; f: ForwardResult<unknown> }[], bo: Moments): Homog | null {
  const s = sl.stages, l2 = sl.skip ** 2, b2 = sl.branch ** 2, q = x.var + x.mean ** 2, H = new Float64Array(5);
  const drop = s.some((t) => t.block === dropout);
  if (s[0].block === attention && s.slice(1).every((t) => t.block === dropout)) {
    const p = s[0].params as AttentionParams, d = p.dModel, L = p.seqLen, pa = p.attnDropout ?? 0;
    const hO = x.r * x.var + x.mean ** 2, pk = Math.max(q - hO, 0), qk = d * p.stdQ ** 2 * d * p.stdK ** 2;
    const SM = new Float64Array(4);
    attnSoftmaxStats(L, qk * q * pk, d, p.heads, SM); // row-variance averaged, as the kernel
    const out = st[0].f.out, k2 = (st[0].f.cache as number[])[R_C + 7]; // the attention record's K2 (formulas/attention.ts)
    attnHomog(l2, b2, d * p.stdV! ** 2, d * p.stdO! ** 2, qk, q, q + (L - 1) * hO, k2, L, out.var + out.mean ** 2, pk, SM[1], pa, !drop && pa === 0, H);
    const atL = [...H];
    attnHomog(l2, b2, d * p.stdV! ** 2, d * p.stdO! ** 2, qk, q, q, 1, 1, out.var + out.mean ** 2, pk, 0, pa, !drop && pa === 0, H);
    return { e: 0, attn: { L: atL, one: [...H], q } };
  }
  if (s.every((t) => t.block === linear || t.block === relu || t.block === dropout) && s.some((t) => t.block === relu)) {
    const lin = s.filter((t) => t.block === linear).map((t) => t.params as LinearParams);
    if (drop || lin.length !== 2 || lin.some((p) => p.biasStd)) return { e: 0 };
    ffnHomogGains(lin[0].dIn, lin[0].dOut, lin[0].std, lin[1].dOut, lin[1].std, H);
    return { e: ffnPostExcess(l2, b2, q, bo.var + bo.mean ** 2, H[0], H[1]) };
  }
  return null;
}

function naive(cfgIn: Record<string, unknown>): { fwd: [number, number, number][]; grad: [number, number][] } {
  const cfg = resolveConfig(cfgIn);
  const plan = buildPlan(cfg);
  const d = cfg.dModel, N = cfg.layers;
  const q0 = cfg.input.var + cfg.input.mean ** 2;
  // the input's pair fluctuations (iid Gaussian features, Isserlis) and the reported mean per-pair
  // cosine r + ¾rκ + ¼r·K2 − KA of a zero-mean entry (formulas/_core.ts cosGap), written out here
  const m = cfg.input.mean, s0 = cfg.input.var, c0 = cfg.input.r * s0;
  let x: Moments = { mean: m, var: s0, r: cfg.input.r, kappa: (2 * (s0 ** 2 + 2 * m ** 2 * s0)) / (d * q0 * q0), nu: 1 / d,
    pairK2: (2 * c0 * c0 + 4 * m * m * c0) / (d * q0 * q0), pairKA: (2 * s0 * c0 + 2 * m * m * (s0 + c0)) / (d * q0 * q0) };
  const rep = (y: Moments) => (y.mean === 0 && y.kappa !== undefined && y.pairK2 !== undefined && y.pairKA !== undefined ? Math.max(-1, Math.min(1, y.r + 0.75 * y.r * y.kappa + 0.25 * y.r * y.pairK2 - y.pairKA)) : y.r);
  const fwd: [number, number, number][] = [[x.mean, x.var, rep(x)]];
  const rec: { x: Moments; st: { x: Moments; f: ForwardResult<unknown> }[]; bo: Moments; added: Moments; post?: ForwardResult<unknown> }[] = [];
  for (const sl of plan.sublayers) {
    const st: { x: Moments; f: ForwardResult<unknown> }[] = [];
    let cur = x;
    for (const s of sl.stages) { const f = s.block.forward(s.params, cur); st.push({ x: cur, f }); cur = f.out; }
    const added = residualForward(sl.skip, sl.branch, x, cur, d);
    const post = sl.postNorm ? sl.postNorm.block.forward(sl.postNorm.params, added) : undefined;
    rec.push({ x, st, bo: cur, added, post });
    x = post ? post.out : added;
    if (sl.kind === 'ffn') fwd.push([x.mean, x.var, rep(x)]);
  }
  let g: GradMoments = { var: 1, r: 0, align: 1, alignMean: 1 };
  const grad: [number, number][] = new Array(N + 1);
  grad[N] = [1, 0];
  if (plan.finalNorm) {
    const f = plan.finalNorm.block.forward(plan.finalNorm.params, x);
    fwd[N] = [f.out.mean, f.out.var, rep(f.out)];
    g = plan.finalNorm.block.backward(plan.finalNorm.params, x, f, g);
  }
  for (let i = plan.sublayers.length - 1; i >= 0; i--) {
    const sl = plan.sublayers[i], t = rec[i];
    let gz = t.post ? sl.postNorm!.block.backward(sl.postNorm!.params, t.added, t.post, g) : g;
    const h = t.post ? homog(sl, t.x, t.st, t.bo) : null;
    // attention: mix per-row and shared-mode parts with ρ = r_g·r (src/engine.ts homogForward)
    const rho = h?.attn ? Math.min(Math.max(g.r * t.post!.out.r, 0), 1) : 0;
    const mix = (a: number, b: number) => a + rho * (b - a);
    const e = h?.attn ? (Number.isNaN(h.attn.L[3]) ? 0 : Math.max(mix(h.attn.L[3], h.attn.one[3]) / mix(h.attn.L[4], h.attn.one[4]) - 1, 0)) : h?.e ?? 0;
    const fx = e > 0 ? excessFactor(e, sl.postNorm!.block === layernorm ? d - 2 : d - 1) : 1;
    if (e > 0) gz = { ...gz, var: gz.var * fx };
    let gb = gz;
    for (let k = sl.stages.length - 1; k >= 0; k--) gb = sl.stages[k].block.backward(sl.stages[k].params, t.st[k].x, t.st[k].f, gb);
    g = residualBackward(sl.skip, sl.branch, gz, gb, t.x, t.bo);
    if (h) {
      const A = h.attn, al = (v: number[]) => homogAlign(sl.skip ** 2, sl.branch ** 2, gz.var, gb.var, A!.q, v[1], v[2]);
      g = { ...g, align: A ? mix(al(A.L), al(A.one)) : 0 };
      // attention: the excess is the shared mode's alone (src/engine.ts excessShared): the private
      // part of the input gradient is (1 − w)/f of it, weighted by the post-norm's forward r
      if (A && fx < 1) {
        const Lq = plan.cfg.seqLen, w = (1 + (Lq - 1) * g.r) / Lq, w2 = Math.min(Math.max(1 - (1 - w) / fx, 0), 1);
        g = { ...g, r: g.r + Math.min(Math.max(t.post!.out.r, 0), 1) * ((Lq * w2 - 1) / (Lq - 1) - g.r) };
      }
    }
    if (sl.kind === 'attn') grad[sl.layer - 1] = [g.var, g.r];
  }
  return { fwd, grad };
}

const CASES: Record<string, unknown>[] = [];
for (const norm of ['pre', 'post']) for (const normKind of ['layernorm', 'rmsnorm']) for (const activation of ['relu', 'gelu', 'gelu_tanh', 'silu', 'swiglu']) {
  CASES.push({
    layers: 7, dModel: 64, heads: 4, dFF: 256, seqLen: 16, norm, normKind, activation, dropout: activation === 'silu' ? 0 : 0.1,
    finalNorm: activation !== 'relu', attnDropout: activation === 'gelu' ? 0.2 : undefined,
    // per-layer arrays, so that every layer has its own stages (and skip/branch)
    residual: { skip: [1, 0.9, 1.1, 1, 0.8, 1, 1.2], branch: [1, 0.5, 0.7, 1, 0.3, 0.6, 1] },
    init: { qk: [0.1, 0.2, 0.3, 0.1, 0.15, 0.25, 0.05], v: 0.1, o: [0.1, 0.12, 0.08, 0.1, 0.1, 0.1, 0.2], ffn1: 0.1, ffn2: [0.05, 0.1, 0.15, 0.1, 0.05, 0.1, 0.1] },
    input: { mean: norm === 'pre' ? 0.3 : 0, var: 2, r: 0.2 },
  });
}

// Post-LN ReLU without dropout: the FFN's excess ε applies as well (the cases above have dropout there)
for (const normKind of ['layernorm', 'rmsnorm']) CASES.push({ ...CASES.find((c) => c.norm === 'post' && c.activation === 'relu')!, normKind, dropout: 0, attnDropout: undefined, finalNorm: true });

describe('engine fold (typed-array records) = a naive object fold', () => {
  it.each(CASES.map((c, i) => [`${c.norm} ${c.normKind} ${c.activation}`, i] as const))('%s', (_name, i) => {
    const cfg = CASES[i];
    const got = predictResolved(resolveConfig(cfg));
    const want = naive(cfg);
    const rel = (a: number, b: number) => Math.abs(a - b) / Math.max(Math.abs(b), 1e-300);
    for (let l = 0; l < got.layers.length; l++) {
      const L = got.layers[l];
      expect(rel(L.mean!, want.fwd[l][0]) < 1e-12 || Math.abs(L.mean! - want.fwd[l][0]) < 1e-15).toBe(true);
      expect(rel(L.var!, want.fwd[l][1])).toBeLessThan(1e-12);
      expect(Math.abs(L.r! - want.fwd[l][2])).toBeLessThan(1e-12);
      expect(rel(L.gradVar!, want.grad[l][0])).toBeLessThan(1e-12);
      // the fold's pooled ratio; homogeneous Post-LN entries report the mean over models of each
      // sequence's cosine instead (engine gradRSeedMean, tested in test/gradr-seedmean.test.ts)
      expect(Math.abs((L.gradSpread?.gradRPooled ?? L.gradR!) - want.grad[l][1])).toBeLessThan(1e-12);
    }
  });

  it('uniform layers share their stage lists; per-layer stds get their own (and the fold reads each layer’s)', () => {
    const base = { layers: 4, dModel: 64, heads: 4, dFF: 256, seqLen: 16, norm: 'pre', activation: 'relu', dropout: 0 };
    const uni = buildPlan(resolveConfig({ ...base, init: { qk: 0.1, v: 0.1, o: 0.1, ffn1: 0.1, ffn2: 0.1 } }));
    expect(uni.sublayers[0].stages).toBe(uni.sublayers[2].stages);
    const per = buildPlan(resolveConfig({ ...base, init: { qk: 0.1, v: [0.1, 0.2, 0.1, 0.2], o: 0.1, ffn1: 0.1, ffn2: 0.1 } }));
    expect(per.sublayers[0].stages).not.toBe(per.sublayers[2].stages);
    const p = (per.sublayers[2].stages.find((s) => s.label === 'attention')!.params as { stdV: number }).stdV;
    expect(p).toBe(0.2);
  });
});
