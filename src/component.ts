/** `component`: one block's forward and backward moments for given input and upstream gradient. */
import { fail, isObject, num, onlyKeys } from './errors.js';
import { getBlock, validateParams, variant, type FormulaSet } from '../formulas/index.js';
import type { ComponentAnswer, GradMoments, Moments } from './types.js';

export interface ComponentRequest {
  block: string;
  params?: Record<string, unknown>;
  input?: Partial<Moments>;
  grad?: Partial<GradMoments>;
  /** sequences per measurement batch: config v1's statistics are centred at the batch's sample mean
   * (only causal attention's gradR depends on it; default: at the expected mean, as predict) */
  batch?: number;
}

const NONNEG = { min: 0 }, UNIT = { min: -1, max: 1 };
const MOMENT_KEYS = ['mean', 'var', 'r'], GRAD_KEYS = ['var', 'r'], REQUEST_KEYS = ['block', 'params', 'input', 'grad', 'batch'];

function moments(raw: unknown, field: string): Moments {
  const v = raw === undefined ? {} : raw;
  if (!isObject(v)) fail(field, 'must be an object {mean, var, r}');
  onlyKeys(v, MOMENT_KEYS, field);
  return {
    mean: v.mean === undefined ? 0 : num(v.mean, `${field}.mean`),
    var: v.var === undefined ? 1 : num(v.var, `${field}.var`, NONNEG),
    r: v.r === undefined ? 0 : num(v.r, `${field}.r`, UNIT),
  };
}

function gradMoments(raw: unknown, field: string): GradMoments {
  const v = raw === undefined ? {} : raw;
  if (!isObject(v)) fail(field, 'must be an object {var, r}');
  onlyKeys(v, GRAD_KEYS, field);
  return {
    var: v.var === undefined ? 1 : num(v.var, `${field}.var`, NONNEG),
    r: v.r === undefined ? 0 : num(v.r, `${field}.r`, UNIT),
  };
}

/** The feature width of a block's input where its params give it (the component's input is then d
 * iid Gaussian features, whose pair fluctuations the blocks carry: formulas/_core.ts cosGap). */
function inputWidth(name: string, p: Record<string, unknown>): number | undefined {
  const w = name === 'linear' ? p.dIn : name === 'layernorm' || name === 'rmsnorm' || name === 'dropout' ? p.d : name === 'ffn' || name === 'swiglu' ? p.dModel : undefined;
  return typeof w === 'number' && w > 0 ? w : undefined;
}

/** The input with its pair fluctuations as d iid Gaussian features (Isserlis; src/engine.ts
 * inputPairFluct): κ = (2s² + 4μ²s)/(dq²), Cov(B_i, B_j) = (2c² + 4μ²c)/(dq²), Cov(A, B) =
 * (2sc + 2μ²(s + c))/(dq²), c = rs, q = s + μ². */
function withFluct(x: Moments, d: number): Moments {
  const s = x.var, m2 = x.mean * x.mean, q = s + m2, c = x.r * s, dq = d * q * q;
  if (!(q > 0)) return x;
  return { ...x, kappa: (2 * s * s + 4 * m2 * s) / dq, pairK2: (2 * c * c + 4 * m2 * c) / dq, pairKA: (2 * s * c + 2 * m2 * (s + c)) / dq };
}

/** config v1's r of a block output: the mean per-pair cosine, its pooled r plus the finite-width gap
 * where the output is zero-mean and its pair fluctuations are known (formulas/_core.ts cosGap). */
function cosineR(o: Moments): number {
  const { r, kappa: k, pairK2: k2, pairKA: ka } = o;
  if (o.mean !== 0 || k === undefined || k2 === undefined || ka === undefined || !(k === k && k2 === k2 && ka === ka)) return r;
  return Math.max(-1, Math.min(1, r + 0.75 * r * k + 0.25 * r * k2 - ka));
}

const finite = (x: number): number | null => (Number.isFinite(x) && Math.abs(x) <= 1e300 ? x : null);

/** Validate a request (throws InputError naming the field) and answer it. */
export function component(req: ComponentRequest | unknown, at = '', formula: FormulaSet = 'ours'): ComponentAnswer {
  const F = (k: string) => (at ? `${at}.${k}` : k);
  if (!isObject(req)) fail(at || 'request', 'must be an object {block, params, input, grad}');
  onlyKeys(req, REQUEST_KEYS, at);
  const { block, extra } = getBlock(req.block, F('block'));
  const rawParams = { ...(isObject(req.params) ? req.params : req.params === undefined ? {} : fail(F('params'), 'must be an object')), ...extra };
  const params = validateParams(block, rawParams, F('params'));
  const x = moments(req.input, F('input'));
  const g = gradMoments(req.grad, F('grad'));
  const batch = req.batch === undefined ? undefined : num(req.batch, F('batch'), { min: 1, integer: true });
  const blk = variant(block, formula);
  const width = formula === 'ours' ? inputWidth(block.doc.name, params as Record<string, unknown>) : undefined;
  const xf = width ? withFluct(x, width) : x;
  const f = blk.forward(params, xf);
  const b = blk.backward(params, xf, f, g);
  const warnings = f.warnings.slice();
  const gradR = blk.reportedGradR ? blk.reportedGradR(params, xf, f, g, b, batch) : b.rPearson ?? b.r;
  const rRep = blk.reportedR ? blk.reportedR(params, xf, f) : width ? cosineR(f.out) : f.out.r;
  const mean = finite(f.out.mean), v = finite(f.out.var), r = finite(rRep), gradVar = finite(b.var), gr = finite(gradR);
  // (one literal, no spread: this runs 10k times in the component benchmark)
  if (mean === null) overflow(warnings, 'mean');
  if (v === null) overflow(warnings, 'var');
  if (r === null) overflow(warnings, 'r');
  if (gradVar === null) overflow(warnings, 'gradVar');
  if (gr === null) overflow(warnings, 'gradR');
  return { mean, var: v, r, gradVar, gradR: gr, method: f.method, warnings } as unknown as ComponentAnswer;
}
function overflow(warnings: string[], k: string): void {
  warnings.push(`${k} overflows (exceeds 1e300): explodes`);
}
