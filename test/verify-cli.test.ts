/**
 * `moments verify` end to end (the built CLI, dist/): bad input, JSON contract, HTML report,
 * divergence reporting, Ctrl-C, and a backend kernel failing mid-run (in process, cpu backend).
 */
import { describe, expect, it } from 'vitest';
import { spawn, spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import * as tf from '@tensorflow/tfjs';
import { resolveConfig } from '../src/config.js';
import { initBackend } from '../verify/backend.js';
import { verifyConfig } from '../verify/run.js';

const dir = mkdtempSync(path.join(os.tmpdir(), 'verify-cli-'));
const cfgFile = (name: string, c: unknown) => { const f = path.join(dir, name); writeFileSync(f, JSON.stringify(c)); return f; };
const cli = (...args: string[]) => spawnSync(process.execPath, ['bin/moments.js', 'verify', ...args], { encoding: 'utf8', timeout: 120_000 });
const tiny = { layers: 2, dModel: 32, heads: 2, dFF: 64, seqLen: 8, init: { qk: 0.18, v: 0.18, o: 0.18, ffn1: 0.18, ffn2: 0.09 }, input: { r: 0.2 } };

describe('bad input: one clear error naming the field, exit code 2, no stack trace', () => {
  const cases: [string, string[], RegExp][] = [
    ['heads not dividing dModel', ['--config', cfgFile('h.json', { ...tiny, heads: 3 })], /^error: heads: must divide dModel \(32\), got 3\n$/],
    ['input r below -1/(seqLen-1)', ['--config', cfgFile('r.json', { ...tiny, input: { r: -0.5 } })], /^error: input\.r: must be >= -1\/\(seqLen-1\) = -0\.1429 for seqLen 8/],
    ['unknown backend', ['--config', cfgFile('t.json', tiny), '--backend', 'tpu'], /^error: --backend: must be one of auto, webgpu, tfjs-node-gpu, tfjs-node, wasm, cpu, got 'tpu'\n$/],
    ['cpu backend on a big model', ['--config', cfgFile('big.json', { layers: 24, dModel: 512, heads: 8, seqLen: 128 }), '--backend', 'cpu'], /^error: --backend: cpu: the model needs [\d.]+ GFLOP per pass; the pure-JS cpu backend is limited to 0\.2 GFLOP per pass \(use --backend wasm\)\n$/],
    ['seeds out of range', ['--config', cfgFile('t.json', tiny), '--seeds', '0'], /^error: --seeds: must be an integer in \[1, 10000\], got 0\n$/],
    ['an array config', ['--config', cfgFile('a.json', [tiny, tiny])], /^error: --config: verify takes one config object/],
    ['unknown component block', ['--component', cfgFile('c.json', { block: 'conv' })], /^error: block: unknown block 'conv'/],
  ];
  for (const [name, args, re] of cases) {
    it(name, () => {
      const r = cli(...args);
      expect(r.status).toBe(2);
      expect(r.stderr).toMatch(re);
      expect(r.stderr).not.toMatch(/\n\s+at /);
    });
  }
});

describe('outputs', () => {
  it('--json follows the contract and --report writes a self-contained page with three SVG plots', () => {
    const html = path.join(dir, 'r.html');
    const r = cli('--config', cfgFile('t.json', tiny), '--backend', 'wasm', '--seeds', '3', '--batch', '2', '--json', '--report', html);
    expect([0, 1]).toContain(r.status);
    const j = JSON.parse(r.stdout);
    for (const k of ['backend', 'device', 'seeds', 'batch', 'timing', 'layers', 'summary']) expect(j).toHaveProperty(k);
    expect(j.backend).toBe('wasm');
    expect(j.device).toMatch(/wasm/);
    expect(j.seeds).toBe(3);
    expect(j.batch).toBe(2);
    expect(j.timing.passSeconds).toBeGreaterThan(0);
    expect(j.timing.totalSeconds).toBeGreaterThanOrEqual(j.timing.passSeconds);
    expect(j.layers).toHaveLength(3);
    for (const l of j.layers) {
      expect(Object.keys(l.measured).sort()).toEqual(['gradR', 'gradVar', 'mean', 'r', 'var']);
      for (const q of Object.keys(l.measured)) { expect(l.measured[q]).toHaveLength(2); expect(l.measured[q][1]).toBeGreaterThanOrEqual(0); }
      expect(typeof l.withinTolerance).toBe('boolean');
      expect(l.predicted.var).toBeGreaterThan(0);
    }
    // entry 0 is the sampled input: var 1, and entry N's gradient is G ~ N(0, 1)
    expect(Math.abs(j.layers[0].measured.var[0] - 1)).toBeLessThan(0.1);
    expect(Math.abs(j.layers[2].measured.gradVar[0] - 1)).toBeLessThan(0.1);
    expect(r.status).toBe(j.summary.allWithinTolerance ? 0 : 1);
    const page = readFileSync(html, 'utf8');
    expect(page.match(/<svg/g)).toHaveLength(3);
    expect(page).not.toMatch(/<script|https?:\/\/(?!www\.w3\.org)/);
    expect(page).toContain(j.summary.verdict.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;'));
  });

  it('human output: per-layer table, the backend and device, a one-line verdict', () => {
    const r = cli('--config', cfgFile('t.json', tiny), '--backend', 'wasm', '--seeds', '2', '--batch', '2');
    expect(r.stdout).toMatch(/backend wasm on .*wasm SIMD/);
    expect(r.stdout).toMatch(/^layer\s+mean pred\s+measured\s+err\s+var pred/m);
    expect(r.stdout).toMatch(/^verdict: (PASS|MISMATCH)/m);
  });

  it('overflow is reported as divergence at the first layer where NaN/Inf appears', () => {
    // skip 1e5: the stream grows 1e10 per layer, so float32 statistics overflow at layer 2 (var ≈ 1e40)
    const huge = { ...tiny, layers: 6, residual: { skip: 1e5 } };
    const r = cli('--config', cfgFile('huge.json', huge), '--backend', 'wasm', '--seeds', '2', '--batch', '2', '--json');
    expect(r.status).toBe(1);
    const j = JSON.parse(r.stdout);
    const k = j.summary.divergence.forward;
    expect(k).toBe(2);
    expect(j.layers[k].measured.var).toBeNull();
    expect(j.layers[k - 1].measured.var).not.toBeNull();
    expect(j.summary.verdict).toContain(`measured forward diverges (NaN/Inf) at layer ${k}`);
    expect(j.layers[k].measured.r).toBeNull();
  });

  it('Ctrl-C stops cleanly and still prints what was measured', async () => {
    const big = { layers: 8, dModel: 128, heads: 4, dFF: 512, seqLen: 32, input: { r: 0.2 } };
    const child = spawn(process.execPath, ['bin/moments.js', 'verify', '--config', cfgFile('long.json', big), '--backend', 'wasm', '--seeds', '400', '--workers', '1'], { stdio: ['ignore', 'pipe', 'pipe'] });
    let out = '', err = '';
    child.stdout.on('data', (b) => { out += b; });
    child.stderr.on('data', (b) => { err += b; });
    // 15 s: well after start-up even on a loaded machine, long before 400 seeds (≥ 0.1 s each) end
    const t = setTimeout(() => child.kill('SIGINT'), 15_000);
    const code = await new Promise<number | null>((res) => child.on('exit', (c) => res(c)));
    clearTimeout(t);
    expect(code).toBe(1);
    expect(err).toMatch(/interrupted/);
    expect(out).toMatch(/^verdict: .*(interrupted after \d+ of 400 seeds|INTERRUPTED before any seed completed)/m);
    expect(err).not.toMatch(/\n\s+at /);
  }, 120_000);
});

describe('a backend failing mid-run', () => {
  it('reports the seed and layer that failed and keeps the seeds already measured', async () => {
    await initBackend('cpu', 0, true);
    const cfg = resolveConfig({ ...tiny, layers: 4 });
    const orig = tf.getKernel('Softmax', 'cpu')!;
    let calls = 0;
    tf.unregisterKernel('Softmax', 'cpu');
    tf.registerKernel({ ...orig, kernelFunc: (a) => { if (++calls === 4 + 3) throw new Error('simulated device loss'); return orig.kernelFunc(a); } });
    try {
      // batched attention: one Softmax per layer, so call 7 is seed 2 (second seed), layer 3
      const r = await verifyConfig(cfg, { backend: 'cpu', seeds: 3, batch: 2, workers: 1 });
      expect(r.summary.failures).toEqual([{ seed: 2, layer: 3, phase: 'forward', message: 'forward at layer 3: simulated device loss' }]);
      expect(r.seeds).toBe(1);
      expect(r.layers[4].measured.var).not.toBeNull();
      expect(r.summary.verdict).toContain('seed 2 forward at layer 3: simulated device loss');
    } finally {
      tf.unregisterKernel('Softmax', 'cpu');
      tf.registerKernel(orig);
    }
  });
});
