/**
 * Feed-forward block: W1 (d→dFF) → activation → dropout p_h → W2 (dFF→d) → dropout p, no biases
 * (p_h = `actDropout`, default p = `dropout`).
 * Composition of the linear, activation and dropout rows (each in its own file); for ReLU at
 * zero input mean the composition has the closed form of DSLM §FFN (printed below):
 *   Var = (dFF/2) d σ1² σ2² σ²/((1−p)(1−p_h)), and the second linear turns the ReLU mean into token
 *   correlation: r_out = (1−p)(1−p_h) (r(π − acos r) + √(1−r²))/π (so r_out(0) = (1−p)(1−p_h)/π).
 *   Each dropout divides the second moment by its keep rate and leaves the cross-token moment
 *   (independent masks) unchanged; at p_h = p this is DSLM's (1−p)².
 */
import { defineBlock } from './_core.js';
import { chainBackward, chainForward, type Stage, type StageTrace } from './_chain.js';
import { linear } from './linear.js';
import { dropout } from './dropout.js';
import { relu } from './relu.js';
import { gelu } from './gelu.js';
import { silu } from './silu.js';

export type Activation = 'relu' | 'gelu' | 'gelu_tanh' | 'silu';
export const ACTIVATIONS: readonly Activation[] = ['relu', 'gelu', 'gelu_tanh', 'silu'];

export function activationStage(a: Activation, label = 'act', d?: number): Stage {
  const w = d === undefined ? {} : { d };
  if (a === 'relu') return { block: relu, params: { ...w }, label };
  if (a === 'silu') return { block: silu, params: { ...w }, label };
  return { block: gelu, params: { approximate: a === 'gelu_tanh' ? 'tanh' : 'none', ...w }, label };
}

export interface FfnParams {
  dModel: number; dFF: number; activation: Activation; std1: number; std2: number;
  /** after W2 (and after the activation unless actDropout is given) */
  dropout?: number;
  /** after the activation (default: dropout) */
  actDropout?: number;
}

export function ffnStages(p: FfnParams, reuse?: readonly (Stage | null)[]): Stage[] {
  // `reuse`: stages of an earlier call with the same activation and dropouts, by position (the
  // engine shares them between layers); the linears carry the per-layer stds and are always new
  const st: Stage[] = [{ block: linear, params: { dIn: p.dModel, dOut: p.dFF, std: p.std1 }, label: 'W1' }, reuse?.[1] ?? activationStage(p.activation, 'act', p.dFF)];
  const pAct = p.actDropout ?? p.dropout;
  if (pAct) st.push(reuse?.[2] ?? { block: dropout, params: { p: pAct, d: p.dFF }, label: 'dropout' });
  st.push({ block: linear, params: { dIn: p.dFF, dOut: p.dModel, std: p.std2 }, label: 'W2' });
  if (p.dropout) st.push(reuse?.[st.length] ?? { block: dropout, params: { p: p.dropout, d: p.dModel }, label: 'dropout' });
  return st;
}

export const ffn = defineBlock<FfnParams, { trace: StageTrace[] }>({
  params: [
    { name: 'dModel', kind: 'integer', min: 1, doc: 'model width d' },
    { name: 'dFF', kind: 'integer', min: 1, doc: 'hidden width' },
    { name: 'activation', kind: 'enum', values: ACTIVATIONS, doc: 'activation' },
    { name: 'std1', kind: 'number', min: 0, doc: 'W1 std' },
    { name: 'std2', kind: 'number', min: 0, doc: 'W2 std' },
    { name: 'dropout', kind: 'number', min: 0, max: 1, maxExclusive: true, optional: true, default: 0, doc: 'dropout after W2 (and after the activation unless actDropout is given)' },
    { name: 'actDropout', kind: 'number', min: 0, max: 1, maxExclusive: true, optional: true, doc: 'dropout after the activation (default: dropout)' },
  ],
  doc: {
    name: 'ffn',
    title: 'Feed-forward block W1 → act → dropout p_h → W2 → dropout p',
    source: 'DSLM FFN block (ReLU closed form); other activations and non-zero means by composing the catalogue rows (derived here)',
    assumptions: ['as for linear, activation and dropout rows; W1 and W2 independent'],
    domain: 'any input; closed form for ReLU with zero-mean input',
    method: 'closed-form',
    symbols: { d: 'dModel', f: 'dFF', w1: 'σ1', w2: 'σ2', p: 'dropout (after W2)', ph: 'actDropout (after the activation; default p)', s: 'input variance', r: 'input token correlation', g: 'upstream gradient variance', rg: 'upstream gradient correlation' },
    forward: {
      mean: [{ expr: '0' }],
      var: [{ expr: 'f*w2^2*d*w1^2*s/(2*(1-p)*(1-ph))', when: 'ReLU, zero-mean input' }],
      r: [{ expr: '(1-p)*(1-ph)*(r*(pi - acos(r)) + sqrt(1-r^2))/pi', when: 'ReLU, zero-mean input (uncentred arc-cosine kernel over the second moment)' }],
    },
    backward: {
      gradVar: [{ expr: 'g*d*w2^2*f*w1^2/(2*(1-p)*(1-ph))', when: 'ReLU' }],
      gradR: [{ expr: 'rg*(1-p)*(1-ph)*(1/2 + asin(r)/pi)', when: 'ReLU, zero-mean input' }],
    },
  },
  forward(p, x) {
    const stages = ffnStages(p);
    const r = chainForward(stages, x);
    return { out: r.out, method: r.method, warnings: r.warnings, cache: { trace: r.trace } };
  },
  backward(p, _x, f, g) {
    return chainBackward(ffnStages(p), f.cache.trace, g);
  },
});
