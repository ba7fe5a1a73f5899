/** The formula catalogue: one file per block; this index registers them and validates params. */
import { fail, isObject, num, onlyKeys } from '../src/errors.js';
import type { Block } from './_core.js';
import { linear } from './linear.js';
import { embedding } from './embedding.js';
import { relu, reluPaper } from './relu.js';
import { gelu, geluPaper } from './gelu.js';
import { silu } from './silu.js';
import { layernorm, layernormPaper } from './layernorm.js';
import { rmsnorm } from './rmsnorm.js';
import { dropout } from './dropout.js';
import { softmax, softmaxPaper } from './softmax.js';
import { attention, attentionPaper } from './attention.js';
import { ffn } from './ffn.js';
import { swiglu } from './swiglu.js';
import { residual } from './residual.js';

export const CATALOGUE: Record<string, Block<any, any>> = {
  linear, embedding, relu, gelu, silu, layernorm, rmsnorm, dropout, softmax, attention, ffn, swiglu, residual,
};

/** The published DSLM rows, for comparison (`--formula paper`). Blocks the paper does not cover
 * (RMSNorm, SwiGLU, SiLU, embedding, …) keep this project's formulas. */
export const PAPER: Record<string, Block<any, any>> = {
  relu: reluPaper, gelu: geluPaper, layernorm: layernormPaper, softmax: softmaxPaper, attention: attentionPaper,
};

export type FormulaSet = 'ours' | 'paper';

/** The block to use for a formula set. */
export function variant(block: Block<any, any>, formula: FormulaSet = 'ours'): Block<any, any> {
  return formula === 'paper' ? PAPER[block.doc.name] ?? block : block;
}

/** `gelu_tanh` is accepted as a block name: gelu with approximate = "tanh". */
export const ALIASES: Record<string, { block: string; params: Record<string, unknown> }> = {
  gelu_tanh: { block: 'gelu', params: { approximate: 'tanh' } },
};

export const BLOCK_NAMES = [...Object.keys(CATALOGUE), ...Object.keys(ALIASES)];

export function getBlock(name: unknown, field = 'block'): { block: Block<any, any>; extra: Record<string, unknown> } {
  if (typeof name !== 'string') fail(field, `must be a block name (one of ${BLOCK_NAMES.join(', ')})`);
  if (name in ALIASES) return { block: CATALOGUE[ALIASES[name].block], extra: ALIASES[name].params };
  const b = CATALOGUE[name];
  if (!b) fail(field, `unknown block '${name}' (one of ${BLOCK_NAMES.join(', ')})`);
  return { block: b, extra: {} };
}

/** per block: its parameter names and each parameter's num() range options (built once) */
interface ParamPrep { names: string[]; opts: { min?: number; max?: number; minExclusive?: boolean; maxExclusive?: boolean; integer?: boolean }[] }
const paramPreps = new WeakMap<Block<any, any>, ParamPrep>();
function paramPrep(block: Block<any, any>): ParamPrep {
  let pre = paramPreps.get(block);
  if (!pre) {
    pre = {
      names: block.params.map((s) => s.name),
      opts: block.params.map((spec) => ({ min: spec.min, max: spec.max, minExclusive: spec.minExclusive, maxExclusive: spec.maxExclusive, integer: spec.kind === 'integer' })),
    };
    paramPreps.set(block, pre);
  }
  return pre;
}

/** Validate and fill defaults; throws InputError naming `field.param`. */
export function validateParams(block: Block<any, any>, raw: unknown, field = 'params'): Record<string, unknown> {
  const p = raw === undefined ? {} : raw;
  if (!isObject(p)) fail(field, 'must be an object');
  const pre = paramPrep(block);
  onlyKeys(p, pre.names, field);
  const out: Record<string, unknown> = {};
  for (let i = 0; i < block.params.length; i++) {
    const spec = block.params[i];
    const f = `${field}.${spec.name}`;
    const v = p[spec.name];
    if (v === undefined) {
      if (!spec.optional) fail(f, `is required (${spec.doc})`);
      if (spec.default !== undefined) out[spec.name] = spec.default;
      continue;
    }
    if (spec.kind === 'boolean') { if (typeof v !== 'boolean') fail(f, `must be true or false, got ${JSON.stringify(v)}`); out[spec.name] = v; continue; }
    if (spec.kind === 'enum') { if (typeof v !== 'string' || !spec.values!.includes(v)) fail(f, `must be one of ${spec.values!.join(', ')}, got ${JSON.stringify(v)}`); out[spec.name] = v; continue; }
    out[spec.name] = num(v, f, pre.opts[i]);
  }
  // cross-field rules
  const name = block.doc.name;
  if (name === 'attention') {
    if ((out.dModel as number) % (out.heads as number) !== 0) fail(`${field}.heads`, `must divide dModel (${out.dModel}), got ${out.heads}`);
    if (out.value !== false) {
      if (out.stdV === undefined) fail(`${field}.stdV`, 'is required when value is true (number >= 0)');
      if (out.stdO === undefined) fail(`${field}.stdO`, 'is required when value is true (number >= 0)');
    }
  }
  return out;
}

export { linear, embedding, relu, gelu, silu, layernorm, rmsnorm, dropout, softmax, attention, ffn, swiglu, residual };
