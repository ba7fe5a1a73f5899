/**
 * Regression grid of theory vs measurement: small configs covering every residual scheme and block,
 * and component requests for every sampled catalogue block. `node dist/verify/grid.js --write`
 * measures them on wasm (one thread, fixed seeds) and stores the error table in
 * test/fixtures/verify-grid.json; test/verify-grid.test.ts re-measures and fails when any error
 * grows beyond its stored value plus K_NOISE × the stored seed noise (theory regressions).
 * Theory-vs-measurement disagreements larger than the tolerance are recorded, not failures.
 */
import { readFileSync, writeFileSync } from 'node:fs';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { resolveConfig } from '../src/config.js';
import { verifyConfig } from './run.js';
import { verifyComponent } from './component.js';
import { QUANTITIES, RELATIVE, type Quantity, type LayerReport } from './compare.js';

export const GRID_SEEDS = 4;
export const GRID_BATCH = 4;
/** allowed growth of an error, in units of the stored seed-to-seed std (relErr units) */
export const K_NOISE = 1;

const B = { dModel: 128, heads: 4, dFF: 512, seqLen: 32 };
const I = (s: number) => ({ qk: s, v: s, o: s, ffn1: s, ffn2: s / 2 });
const s128 = 1 / Math.sqrt(128);

export const GRID_CONFIGS: Record<string, unknown>[] = [
  { name: 'pre-LN relu', ...B, layers: 12, init: I(s128), input: { r: 0.2 } },
  { name: 'post-LN relu', ...B, layers: 12, norm: 'post', init: I(s128), input: { r: 0.2 } },
  { name: 'pre-LN gelu dropout', ...B, layers: 12, activation: 'gelu', dropout: 0.1, init: I(s128) },
  { name: 'pre-LN causal gelu_tanh', ...B, layers: 12, activation: 'gelu_tanh', causal: true, init: I(s128), input: { r: 0.3 } },
  { name: 'pre-RMSNorm swiglu causal finalNorm', ...B, layers: 12, normKind: 'rmsnorm', activation: 'swiglu', causal: true, finalNorm: true, init: { ...I(s128), ffn3: s128 } },
  { name: 'post-RMSNorm silu', ...B, layers: 12, norm: 'post', normKind: 'rmsnorm', activation: 'silu', init: I(s128) },
  { name: 'pre-LN DSLM λ/β 24 layers', ...B, layers: 24, residual: { skip: Math.sqrt(1 - 1 / 24), branch: Math.sqrt(1 / 24) }, init: I(s128), input: { r: 0.1 } },
  { name: 'post-LN DeepNorm-style skip', ...B, layers: 16, norm: 'post', residual: { skip: Math.pow(2 * 16, 0.25), branch: 1 }, init: { qk: s128, v: 0.87 * s128 * Math.pow(8 * 16, -0.25), o: 0.87 * s128 * Math.pow(8 * 16, -0.25), ffn1: 0.87 * s128 * Math.pow(8 * 16, -0.25), ffn2: 0.87 * 0.5 * s128 * Math.pow(8 * 16, -0.25) } },
  { name: 'pre-LN per-layer arrays', ...B, layers: 8, residual: { skip: [1, 1, 0.9, 0.9, 0.8, 0.8, 0.7, 0.7], branch: [1, 0.8, 0.6, 0.5, 0.5, 0.4, 0.3, 0.3] }, init: { qk: [0.05, 0.08, 0.1, 0.12, 0.15, 0.2, 0.25, 0.3], v: s128, o: s128, ffn1: s128, ffn2: s128 / 2 } },
  { name: 'pre-LN large qk (peaked softmax)', ...B, layers: 8, init: { ...I(s128), qk: 0.25 }, input: { r: 0.1 } },
  { name: 'pre-LN input mean and negative r', ...B, layers: 8, init: I(s128), input: { mean: 0.5, var: 2, r: -0.02 } },
  { name: 'pre-LN default std 0.02', ...B, layers: 16, input: { r: 0.2 } },
];

export const GRID_COMPONENTS: Record<string, unknown>[] = [
  { block: 'linear', params: { dIn: 128, dOut: 256, std: 0.08 }, input: { mean: 0.5, var: 1, r: 0.2 }, grad: { var: 1, r: 0.1 } },
  { block: 'relu', input: { var: 2, r: 0.4 }, grad: { var: 1, r: 0.2 } },
  { block: 'gelu', input: { var: 1, r: 0.3 }, grad: { var: 1, r: 0.2 } },
  { block: 'gelu_tanh', input: { var: 4, r: 0.6 }, grad: { var: 1, r: 0.1 } },
  { block: 'silu', input: { var: 1, r: 0.5 }, grad: { var: 1, r: 0.3 } },
  { block: 'layernorm', params: { d: 128 }, input: { mean: 1, var: 3, r: 0.4 }, grad: { var: 1, r: 0.2 } },
  { block: 'rmsnorm', params: { d: 128 }, input: { mean: 0.5, var: 2, r: 0.4 }, grad: { var: 1, r: 0.2 } },
  { block: 'dropout', params: { p: 0.2 }, input: { mean: 0.3, var: 1, r: 0.5 }, grad: { var: 1, r: 0.3 } },
  { block: 'softmax', params: { n: 32 }, input: { var: 1, r: 0.3 }, grad: { var: 1, r: 0.1 } },
  { block: 'softmax', params: { n: 32 }, input: { var: 9, r: 0.2 }, grad: { var: 1, r: 0 } },
  { block: 'attention', params: { dModel: 128, heads: 4, stdQ: 0.1, stdK: 0.1, stdV: 0.09, stdO: 0.09, seqLen: 32 }, input: { var: 1, r: 0.2 }, grad: { var: 1, r: 0.1 } },
  { block: 'attention', params: { dModel: 128, heads: 4, stdQ: 0.2, stdK: 0.2, stdV: 0.09, stdO: 0.09, seqLen: 32, causal: true, attnDropout: 0.1 }, input: { var: 1, r: 0.3 }, grad: { var: 1, r: 0.2 } },
  { block: 'attention', params: { dModel: 128, heads: 4, stdQ: 0.1, stdK: 0.1, value: false, seqLen: 32 }, input: { var: 1, r: 0.1 }, grad: { var: 1, r: 0 } },
  { block: 'ffn', params: { dModel: 128, dFF: 512, activation: 'relu', std1: 0.09, std2: 0.045, dropout: 0.1 }, input: { var: 1, r: 0.3 }, grad: { var: 1, r: 0.2 } },
  { block: 'ffn', params: { dModel: 128, dFF: 512, activation: 'gelu', std1: 0.09, std2: 0.045 }, input: { mean: 0.3, var: 1, r: 0.3 }, grad: { var: 1, r: 0.2 } },
  { block: 'swiglu', params: { dModel: 128, dFF: 512, std1: 0.09, std3: 0.09, std2: 0.045 }, input: { var: 1, r: 0.3 }, grad: { var: 1, r: 0.2 } },
  { block: 'embedding', params: { vocab: 1000, std: 1, posStd: 0.5, typeStd: 0.3 } },
  { block: 'embedding', params: { vocab: 5000, std: 0.02, tokens: 'zipf', zipfExponent: 1.1 } },
];

export interface GridPoint { layer: number; q: Quantity; predicted: number | null; measured: [number, number] | null; error: number | null; tolerance: number | null; noise: number | null }
export interface GridCase { name: string; kind: 'config' | 'component'; points: GridPoint[]; seconds: number }
export interface GridFile { note: string; backend: string; seeds: number; batch: number; kNoise: number; cases: GridCase[] }

function points(rows: { layer: number; predicted: LayerReport['predicted']; measured: LayerReport['measured']; relErr: LayerReport['relErr']; tolerance: LayerReport['tolerance'] }[]): GridPoint[] {
  const out: GridPoint[] = [];
  for (const r of rows) {
    for (const q of QUANTITIES) {
      const p = r.predicted[q], m = r.measured[q];
      // seed noise in the units of the error: relative quantities std/|p|, absolute ones std
      const noise = m === null || p === null ? null : RELATIVE[q] ? (p !== 0 ? m[1] / Math.abs(p) : null) : m[1];
      out.push({ layer: r.layer, q, predicted: p, measured: m, error: r.relErr[q], tolerance: r.tolerance[q], noise });
    }
  }
  return out;
}

export function caseName(c: Record<string, unknown>, kind: 'config' | 'component'): string {
  if (kind === 'config') return String(c.name);
  return `${c.block} ${JSON.stringify(c.params ?? {})} in ${JSON.stringify(c.input ?? {})} g ${JSON.stringify(c.grad ?? {})}`;
}

export async function runCase(kind: 'config' | 'component', c: Record<string, unknown>): Promise<GridCase> {
  const t0 = performance.now();
  if (kind === 'config') {
    const r = await verifyConfig(resolveConfig(c), { backend: 'wasm', seeds: GRID_SEEDS, batch: GRID_BATCH, workers: 1 });
    return { name: caseName(c, kind), kind, points: points(r.layers), seconds: (performance.now() - t0) / 1000 };
  }
  const r = await verifyComponent(c, { backend: 'wasm', seeds: GRID_SEEDS, batch: GRID_BATCH, tokens: 32, width: 128 });
  return { name: caseName(c, kind), kind, points: points([{ layer: 0, ...r }]), seconds: (performance.now() - t0) / 1000 };
}

/** test/fixtures/verify-grid.json of the project (from verify/*.ts under vitest or dist/verify/*.js) */
export const FIXTURE = new URL(import.meta.url.includes('/dist/verify/') ? '../../test/fixtures/verify-grid.json' : '../test/fixtures/verify-grid.json', import.meta.url);

async function main(): Promise<void> {
  const write = process.argv.includes('--write');
  const cases: GridCase[] = [];
  for (const [kind, list] of [['config', GRID_CONFIGS], ['component', GRID_COMPONENTS]] as const) {
    for (const c of list) {
      const gc = await runCase(kind, c);
      cases.push(gc);
      const out = gc.points.filter((p) => p.error !== null && p.tolerance !== null && p.error > p.tolerance);
      process.stderr.write(`${gc.name}: ${gc.seconds.toFixed(1)} s, ${out.length} point(s) outside tolerance${out.length ? ': ' + out.slice(0, 4).map((p) => `${p.q}@${p.layer} err ${p.error!.toPrecision(3)} > ${p.tolerance!.toPrecision(3)}`).join(', ') : ''}\n`);
    }
  }
  const file: GridFile = {
    note: 'generated by `node dist/verify/grid.js --write`; errors: var/gradVar relative, mean/r/gradR absolute; noise = seed-to-seed std in the same units',
    backend: 'wasm', seeds: GRID_SEEDS, batch: GRID_BATCH, kNoise: K_NOISE, cases,
  };
  const text = JSON.stringify(file, (_k, v) => (typeof v === 'number' ? Number(v.toPrecision(6)) : v), 1) + '\n';
  if (write) { writeFileSync(fileURLToPath(FIXTURE), text); process.stderr.write(`wrote ${fileURLToPath(FIXTURE)}\n`); }
  else process.stdout.write(text);
}

export function readFixture(): GridFile { return JSON.parse(readFileSync(fileURLToPath(FIXTURE), 'utf8')) as GridFile; }

if (process.argv[1] && import.meta.url === pathToFileURL(process.argv[1]).href) await main();
