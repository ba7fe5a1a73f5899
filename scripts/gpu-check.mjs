#!/usr/bin/env node
// Full-width checks for the GPU machine (see scripts/gpu-check.sh and ../shared/gpu/README.md).
//   node scripts/gpu-check.mjs cases [OUT.json]   the resolved configs, seeds and batch of each case
//                                                 (default .gpu/cases.json) for scripts/torch-reference.py
//   node scripts/gpu-check.mjs compare DIR        DIR holds cases.json, torch.json (torch-reference.py)
//                                                 and webgpu-<id>.json (`verify --backend webgpu --json`):
//                                                 prints fidelity/gpu.ts's markdown section (the engine's
//                                                 prediction against both, the harness's tolerance rule).
// The measurements of record are kept in fidelity/gpu/ (FIDELITY.md's section is generated from them).
// Needs `npm run build` (imports dist/).
import { readFileSync, writeFileSync, existsSync } from 'node:fs';
import { resolveConfig } from '../dist/src/index.js';
import { gpuSection } from '../dist/fidelity/gpu.js';

const ex = (f) => JSON.parse(readFileSync(new URL(`../examples/${f}`, import.meta.url), 'utf8'));
const base = { dModel: 512, heads: 8, dFF: 2048, seqLen: 128, activation: 'relu', dropout: 0, causal: false,
  init: { qk: 0.02, v: 0.02, o: 0.02, ffn1: 0.02, ffn2: 0.02 }, input: { mean: 0, var: 1, r: 0.2 } };
/** id, config, torch seeds, batch, webgpu seeds (0: torch only) */
export const CASES = [
  ['preln-48', ex('preln-48.json'), 32, 8, 4],
  ['bert-base-like', ex('bert-base-like.json'), 32, 8, 2],
  ['deepscalelm-192', ex('deepscalelm-192.json'), 32, 8, 2],
  ['gpt-causal-rmsnorm-swiglu', ex('gpt-causal-rmsnorm-swiglu.json'), 32, 8, 0],
  ['preln-192-d512', { ...base, name: 'Pre-LN 192 layers d512', layers: 192, norm: 'pre' }, 16, 8, 0],
  ['postln-96-d512', { ...base, name: 'Post-LN 96 layers d512', layers: 96, norm: 'post' }, 32, 8, 0],
  ['causal-postln-48-d512', { ...base, name: 'causal Post-LN 48 layers d512', layers: 48, norm: 'post', causal: true }, 32, 8, 0],
  ['causal-preln-96-d512', { ...base, name: 'causal Pre-LN 96 layers d512', layers: 96, norm: 'pre', causal: true }, 16, 8, 0],
];

const [mode, arg] = process.argv.slice(2);
if (mode === 'cases') {
  const file = arg ?? '.gpu/cases.json';
  const cases = CASES.map(([id, raw, seeds, batch]) => ({ id, config: resolveConfig(raw), seeds, batch }));
  writeFileSync(file, JSON.stringify(cases, null, 1));
  for (const [id, raw, , , wseeds] of CASES) {
    if (wseeds) writeFileSync(`.gpu/cfg-${id}.json`, JSON.stringify(raw));
  }
  console.log(`wrote ${file}: ${cases.length} cases; webgpu configs .gpu/cfg-*.json`);
} else if (mode === 'compare') {
  console.log(gpuSection(arg));
} else {
  console.error('usage: node scripts/gpu-check.mjs cases [OUT.json] | compare DIR');
  process.exitCode = 2;
}
