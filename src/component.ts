/** `component`: one block's forward and backward moments for given input and upstream gradient. */
import { fail, isObject, num, onlyKeys } from './errors.js';
import { getBlock, validateParams, variant, type FormulaSet } from '../formulas/index.js';
import type { ComponentAnswer, GradMoments, Moments } from './types.js';
import { checkTokenCorrelation } from './config.js';

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

const finite = (x: number): number | null => (Number.isFinite(x) && Math.abs(x) <= 1e300 ? x : null);

/** Validate a request (throws InputError naming the field) and answer it. */
export function component(req: ComponentRequest | unknown, at = '', formula: FormulaSet = 'ours'): ComponentAnswer {
  const F = (k: string) => (at ? `${at}.${k}` : k);
  if (!isObject(req)) fail(at || 'request', 'must be an object {block, params, input, grad}');
  onlyKeys(req, REQUEST_KEYS, at);
  const { block, extra } = getBlock(req.block, F('block'));
  const given = isObject(req.params) ? req.params : req.params === undefined ? {} : fail(F('params'), 'must be an object');
  // an alias fixes some params (gelu_tanh: approximate = "tanh"): a different value is a contradiction, not silently replaced
  for (const k in extra) if (given[k] !== undefined && given[k] !== extra[k]) fail(`${F('params')}.${k}`, `is fixed to ${JSON.stringify(extra[k])} by block '${req.block as string}', got ${JSON.stringify(given[k])}`);
  const rawParams = { ...given, ...extra };
  const params = validateParams(block, rawParams, F('params'));
  const x = moments(req.input, F('input'));
  const g = gradMoments(req.grad, F('grad'));
  if (block.doc.name === 'attention') {
    // seqLen exchangeable tokens: no correlation below −1/(seqLen − 1) exists (as config v1's input.r)
    checkTokenCorrelation(x.r, params.seqLen as number, F('input.r'));
    checkTokenCorrelation(g.r, params.seqLen as number, F('grad.r'));
  }
  const batch = req.batch === undefined ? undefined : num(req.batch, F('batch'), { min: 1, integer: true });
  const blk = variant(block, formula);
  const f = blk.forward(params, x);
  const b = blk.backward(params, x, f, g);
  const warnings = f.warnings.slice();
  const gradR = blk.reportedGradR ? blk.reportedGradR(params, x, f, g, b, batch) : b.rPearson ?? b.r;
  const rRep = blk.reportedR ? blk.reportedR(params, x, f) : f.out.r;
  // r and gradR are correlations: rounding past ±1 (an ffn at r = 1: 1 + 7e-12; ReLU's quadrature at r = 1) is cut to ±1
  const mean = finite(f.out.mean), v = finite(f.out.var), r = unit(finite(rRep)), gradVar = finite(b.var), gr = unit(finite(gradR));
  // (one literal, no spread: this runs 10k times in the component benchmark)
  if (mean === null) overflow(warnings, 'mean');
  if (v === null) overflow(warnings, 'var');
  if (r === null) overflow(warnings, 'r');
  if (gradVar === null) overflow(warnings, 'gradVar');
  if (gr === null) overflow(warnings, 'gradR');
  return { mean, var: v, r, gradVar, gradR: gr, method: f.method, warnings } as unknown as ComponentAnswer;
}
function unit(x: number | null): number | null {
  return x === null ? null : x > 1 ? 1 : x < -1 ? -1 : x;
}
function overflow(warnings: string[], k: string): void {
  warnings.push(`${k} overflows (exceeds 1e300): explodes`);
}
