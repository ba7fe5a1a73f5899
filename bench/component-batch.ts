/**
 * The 10,000 mixed component requests of the component benchmark (bench/predict.ts), and, run as a
 * script (`node dist/bench/component-batch.js LEN`), one cold pass over them in this fresh process
 * (nothing memoised yet: no quadrature grid, no softmax table) printed as JSON {"ms": …}.
 * LEN is the softmax length / attention seqLen of the batch's length-dependent requests.
 */
import { fileURLToPath } from 'node:url';
import { component } from '../src/component.js';

export const COMPONENT_KINDS = 11;
export function componentRequests(len: number): unknown[] {
  const reqs: unknown[] = [];
  const blocks = [
    { block: 'linear', params: { dIn: 512, dOut: 2048, std: 0.02 } },
    { block: 'relu', params: {} }, { block: 'gelu', params: {} }, { block: 'gelu_tanh', params: {} }, { block: 'silu', params: {} },
    { block: 'layernorm', params: { d: 512 } }, { block: 'rmsnorm', params: { d: 512 } }, { block: 'dropout', params: { p: 0.1 } },
    { block: 'softmax', params: { n: len } },
    { block: 'attention', params: { dModel: 512, heads: 8, stdQ: 0.05, stdK: 0.05, stdV: 0.04, stdO: 0.04, seqLen: len } },
    { block: 'ffn', params: { dModel: 512, dFF: 2048, activation: 'relu', std1: 0.02, std2: 0.02, dropout: 0.1 } },
  ];
  for (let i = 0; i < 10_000; i++) {
    const b = blocks[i % blocks.length];
    reqs.push({ ...b, input: { mean: 0, var: 0.5 + (i % 7) * 0.25, r: ((i * 37) % 90) / 100 }, grad: { var: 1, r: 0.1 } });
  }
  return reqs;
}

if (process.argv[1] === fileURLToPath(import.meta.url)) {
  const reqs = componentRequests(Number(process.argv[2] ?? 128));
  const t = performance.now();
  for (const r of reqs) component(r);
  process.stdout.write(JSON.stringify({ ms: performance.now() - t }));
}
