/**
 * Sequential composition of blocks: the forward fold records every stage's input and result so
 * that the backward fold can run in reverse. Used by composite blocks (ffn, swiglu) and the engine.
 */
import type { GradMoments, Method, Moments } from '../src/types.js';
import { kernelFor, METHOD_RANK, putMoments, readMoments, RW, type Block, type ForwardResult } from './_core.js';

export { METHODS, METHOD_RANK } from './_core.js';

export interface Stage { block: Block<any, any>; params: any; label: string }

export interface StageTrace { label: string; block: string; params: unknown; input: Moments; fwd: ForwardResult<any>; gradOut?: GradMoments; gradIn?: GradMoments }

export function weakest(a: Method, b: Method): Method {
  return METHOD_RANK[b] > METHOD_RANK[a] ? b : a;
}

export function chainForward(stages: Stage[], x: Moments): { out: Moments; trace: StageTrace[]; method: Method; warnings: string[] } {
  const trace: StageTrace[] = [];
  let cur = x, method: Method = 'closed-form';
  const warnings: string[] = [];
  for (const st of stages) {
    const fwd = st.block.forward(st.params, cur);
    trace.push({ label: st.label, block: st.block.doc.name, params: st.params, input: cur, fwd });
    method = weakest(method, fwd.method);
    for (let k = 0; k < fwd.warnings.length; k++) warnings.push(`${st.label}: ${fwd.warnings[k]}`);
    cur = fwd.out;
  }
  return { out: cur, trace, method, warnings };
}

/** The output moments of a chain, without recording a trace (advisor and scheme folds): through
 * the stages' kernels in a module scratch (two records, ping-pong), no per-stage objects. */
export function chainOut(stages: Stage[], x: Moments): Moments {
  let i = 0;
  putMoments(CH, 0, x);
  for (let k = 0; k < stages.length; k++) {
    const st = stages[k], o = i === 0 ? RW : 0, kern = kernelFor(st.block, st.params);
    if (kern) kern.fwd(st.params, CH, i, o);
    else putMoments(CH, o, st.block.forward(st.params, readMoments(CH, i)).out);
    i = o;
  }
  return readMoments(CH, i);
}
const CH = new Float64Array(2 * RW);

export function chainBackward(stages: Stage[], trace: StageTrace[], g: GradMoments): GradMoments {
  let cur = g;
  for (let i = stages.length - 1; i >= 0; i--) {
    const t = trace[i];
    t.gradOut = cur;
    cur = stages[i].block.backward(stages[i].params, t.input, t.fwd, cur);
    t.gradIn = cur;
  }
  return cur;
}
