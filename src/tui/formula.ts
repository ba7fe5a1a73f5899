/**
 * Data of the formula panel: for one layer, every sub-block of the engine trace with its
 * catalogue formula (formulas()/renderExpression), the symbol values substituted from the trace
 * (input moments, upstream gradient, block parameters), the formula evaluated at those values
 * next to the engine's own number, and the block's source, method and validity domain.
 */
import { formulas, type FormulaEntry } from '../symbolic.js';
import { compile, type Compiled } from '../../formulas/_core.js';
import { attentionFormulaSymbols, type AttentionParams } from '../../formulas/attention.js';
import type { Prediction, SubTrace } from '../engine.js';
import type { GradMoments, Moments } from '../types.js';

export interface StageView {
  /** sub-layer kind and the stage label ("norm", "attention", "W1", "residual", ...) */
  sub: 'attn' | 'ffn' | 'final';
  label: string;
  block: string;
  input: Moments;
  output: Moments;
  gradOut?: GradMoments;
  gradIn?: GradMoments;
  method: string;
  symbols: Record<string, number>;
}

export interface QuantityView {
  quantity: 'mean' | 'var' | 'r' | 'gradVar' | 'gradR';
  text: string;
  when?: string;
  /** the formula evaluated at the substituted symbols, when every symbol is known */
  value?: number;
  /** the engine's value of this quantity at this stage */
  engine?: number;
  /** symbols of the formula with no value in the trace (e.g. K2, computed inside the block) */
  unbound: string[];
  variants: number;
}

const entryCache = new Map<string, FormulaEntry>();
export function entryOf(block: string): FormulaEntry {
  let e = entryCache.get(block);
  if (!e) { e = formulas(block)[0]; entryCache.set(block, e); }
  return e;
}

function paramSymbols(block: string, p: Record<string, unknown>): Record<string, number> {
  const n = (k: string, dflt?: number) => (typeof p[k] === 'number' ? (p[k] as number) : typeof p[k] === 'boolean' ? Number(p[k]) : dflt);
  const pick = (m: Record<string, number | undefined>) => Object.fromEntries(Object.entries(m).filter(([, v]) => v !== undefined)) as Record<string, number>;
  switch (block) {
    case 'linear': return pick({ din: n('dIn'), dout: n('dOut'), w: n('std'), b: n('biasStd', 0) });
    case 'layernorm': case 'rmsnorm': return pick({ d: n('d'), eps: n('eps') });
    case 'dropout': return pick({ p: n('p') });
    case 'attention': return pick({ d: n('dModel'), h: n('heads'), L: n('seqLen'), sq: n('stdQ'), sk: n('stdK'), sv: n('stdV'), so: n('stdO'), pa: n('attnDropout', 0) });
    case 'swiglu': return pick({ d: n('dModel'), f: n('dFF'), w1: n('std1'), w3: n('std3'), w2: n('std2'), p: n('dropout', 0), ph: n('actDropout', n('dropout', 0)) });
    case 'ffn': return pick({ d: n('dModel'), f: n('dFF'), w1: n('std1'), w2: n('std2'), p: n('dropout', 0), ph: n('actDropout', n('dropout', 0)) });
    default: return {};
  }
}

/** Non-causal attention: the softmax factors the formulas name (K2 = n²E[p²] at the row logit
 * variance (1 − r′)σ_s², the tilts tau and tm, the row correlation c, X2 the cross-row sum) as the
 * kernel computes them (formulas/attention.ts attentionFormulaSymbols), so the printed formula can
 * be evaluated. Causal rows average over positions: left unbound there. */
function softmaxSymbols(p: AttentionParams, x: Moments): Record<string, number> {
  if (p.causal || p.value === false) return {};
  return attentionFormulaSymbols(p, x);
}

function ioSymbols(x: Moments, g?: GradMoments): Record<string, number> {
  const o: Record<string, number> = { mu: x.mean, s: x.var, r: x.r };
  if (g) { o.g = g.var; o.rg = g.r; }
  return o;
}

/** All sub-blocks of layer `layer` (1-based), in forward order; layer 0 has none, the last layer
 * is followed by the final norm when there is one. */
export function layerStages(p: Prediction, cfg: { skip: number[]; branch: number[] }, layer: number): StageView[] {
  const t = p.trace;
  if (!t) return [];
  const out: StageView[] = [];
  const subs = t.sublayers.filter((s) => s.layer === layer);
  for (const s of subs) {
    for (const st of s.branch) {
      const params = (st.params ?? {}) as Record<string, unknown>;
      const symbols = { ...ioSymbols(st.input, st.gradOut), ...paramSymbols(st.block, params) };
      if (st.block === 'attention') Object.assign(symbols, softmaxSymbols(params as unknown as AttentionParams, st.input));
      out.push({
        sub: s.kind, label: st.label, block: st.block, input: st.input, output: st.fwd.out, gradOut: st.gradOut, gradIn: st.gradIn,
        method: st.fwd.method, symbols,
      });
    }
    out.push(residualStage(s, cfg.skip[s.layer - 1], cfg.branch[s.layer - 1]));
    if (s.post) {
      out.push({
        sub: s.kind, label: 'post-norm', block: s.post.block, input: s.post.input, output: s.post.fwd.out, gradOut: s.post.gradOut, gradIn: s.post.gradIn,
        method: s.post.fwd.method, symbols: { ...ioSymbols(s.post.input, s.post.gradOut), ...paramSymbols(s.post.block, s.post.params as Record<string, unknown>) },
      });
    }
  }
  const maxLayer = t.sublayers.length ? t.sublayers[t.sublayers.length - 1].layer : 0;
  if (t.finalNorm && layer === maxLayer) {
    const f = t.finalNorm;
    out.push({
      sub: 'final', label: 'final norm', block: f.block, input: f.input, output: f.fwd.out, gradOut: f.gradOut, gradIn: f.gradIn,
      method: f.fwd.method, symbols: { ...ioSymbols(f.input, f.gradOut), ...paramSymbols(f.block, f.params as Record<string, unknown>) },
    });
  }
  return out;
}

function residualStage(s: SubTrace, l: number, b: number): StageView {
  const gz = s.post?.gradIn ?? s.gradOut; // gradient at the sum λx + βF(x)
  const gb = s.branch.length ? s.branch[0].gradIn : undefined; // gradient the branch returns
  const sym: Record<string, number> = { ...ioSymbols(s.input, gz), l, b, muF: s.branchOut.mean, sF: s.branchOut.var, rF: s.branchOut.r };
  if (gz && gb && gz.var > 0) { sym.G = gb.var / gz.var; sym.rgF = gb.r; }
  return { sub: s.kind, label: 'residual', block: 'residual', input: s.input, output: s.added, gradOut: gz, gradIn: s.gradIn, method: 'closed-form', symbols: sym };
}

const compiled = new Map<string, Compiled | null>();
const SYMBOL_RE = /\b[A-Za-z_][A-Za-z0-9_]*\b/g;
const FUNCS = new Set(['sqrt', 'exp', 'log', 'acos', 'asin', 'atan', 'tanh', 'abs', 'erf', 'min', 'max', 'pi', 'e']);

export function freeSymbols(expr: string): string[] {
  return [...new Set((expr.match(SYMBOL_RE) ?? []).filter((x) => !FUNCS.has(x) && !/^\d/.test(x)))];
}

function evaluate(expr: string, sym: Record<string, number>): { value?: number; unbound: string[] } {
  const free = freeSymbols(expr);
  const unbound = free.filter((k) => !(k in sym) || !Number.isFinite(sym[k]));
  if (unbound.length) return { unbound };
  const key = `${expr}|${free.join(',')}`;
  let f = compiled.get(key);
  if (f === undefined) {
    try { f = compile(expr, free); } catch { f = null; }
    compiled.set(key, f);
  }
  if (!f) return { unbound: [] };
  const v = f(...free.map((k) => sym[k]));
  return Number.isFinite(v) ? { value: v, unbound: [] } : { unbound: [] };
}

function engineValue(st: StageView, q: QuantityView['quantity']): number | undefined {
  switch (q) {
    case 'mean': return st.output.mean;
    case 'var': return st.output.var;
    case 'r': return st.output.r;
    case 'gradVar': return st.gradIn?.var;
    case 'gradR': return st.gradIn?.r;
  }
}

const close = (a: number, b: number) => Math.abs(a - b) <= 1e-6 * Math.max(Math.abs(a), Math.abs(b), 1e-12);

/** The formulas of one stage: per quantity, the catalogue variant that reproduces the engine's
 * number when one does (else the first), evaluated at the substituted symbols. */
export function stageFormulas(st: StageView): QuantityView[] {
  const e = entryOf(st.block);
  const out: QuantityView[] = [];
  for (const q of ['mean', 'var', 'r', 'gradVar', 'gradR'] as const) {
    const vs = e.formulas.filter((f) => f.quantity === q);
    if (!vs.length) continue;
    const eng = engineValue(st, q);
    const evals = vs.map((f) => ({ f, ...(f.symbolic ? evaluate(f.expr, st.symbols) : { unbound: [] as string[] }) }));
    const match = evals.find((x) => x.value !== undefined && eng !== undefined && close(x.value, eng)) ?? evals[0];
    out.push({ quantity: q, text: match.f.simplified, when: match.f.when, value: match.value, engine: eng, unbound: match.unbound, variants: vs.length });
  }
  return out;
}
