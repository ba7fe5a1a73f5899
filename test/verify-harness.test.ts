/**
 * The harness itself: statistics, the input sampler, and blocks whose moments are known exactly in
 * expectation, measured through the same pipeline `verify` uses (sampler → TF.js on wasm →
 * statistics → mean ± seed std).
 * Sampling tolerance: |measured − exact| ≤ max(f, 4 × std/√K) where std is the measured
 * seed-to-seed std and K the number of seeds (4 standard errors); f is a small fixed floor for the
 * O(1/width) finite-size effects of the statistic (stated per check).
 */
import { beforeAll, describe, expect, it } from 'vitest';
import * as tf from '@tensorflow/tfjs';
import { initBackend } from '../verify/backend.js';
import { statsTensor } from '../verify/model.js';
import { sampleSequences } from '../verify/inputs.js';
import { minTokenCorrelation as minR } from '../src/config.js';
import { Rng } from '../verify/rng.js';
import { statsJs, verifyComponent } from '../verify/component.js';
import { InputError } from '../src/errors.js';
import { refStats } from './verify-reference.js';

beforeAll(async () => { await initBackend('wasm', 0, true); });

const K = 6;
function within(ms: [number, number] | null, exact: number, floor: number, what: string) {
  expect(ms, what).not.toBeNull();
  const [m, s] = ms!;
  const tol = Math.max(floor, (4 * s) / Math.sqrt(K));
  expect(Math.abs(m - exact), `${what}: measured ${m} ± ${s} (seed std), exact ${exact}, tolerance ${tol}`).toBeLessThanOrEqual(tol);
}

describe('statistics follow the config v1 definitions', () => {
  it('TF statistics and float64 statistics equal a brute-force pairwise Pearson over globally centred tokens', () => {
    const rng = new Rng(3);
    const B = 3, T = 7, d = 19;
    const x = sampleSequences(rng, B, T, d, { mean: 0.7, var: 2, r: 0.4 });
    for (let i = 0; i < d; i++) x[i] += 0.5; // break the symmetry: one token with an offset
    const ref = refStats(Float64Array.from(x), B, T, d);
    const js = statsJs(x, B, T, d);
    const t = statsTensor(tf, tf.tensor2d(x, [B * T, d]), B, T, d);
    const got = Array.from(t.dataSync());
    t.dispose();
    for (let i = 0; i < 3; i++) {
      expect(Math.abs(js[i] - ref[i])).toBeLessThan(1e-12);
      expect(Math.abs(got[i] - ref[i])).toBeLessThan(2e-5 * Math.max(1, Math.abs(ref[i])));
    }
    // the check can tell the definitions apart: per-vector centring gives a different r here
    let pv = 0;
    for (let b = 0; b < B; b++) {
      for (let i = 0; i < T; i++) for (let j = 0; j < T; j++) {
        if (i === j) continue;
        const u = Array.from(x.subarray((b * T + i) * d, (b * T + i + 1) * d)), w = Array.from(x.subarray((b * T + j) * d, (b * T + j + 1) * d));
        const mu = u.reduce((a, c) => a + c, 0) / d, mw = w.reduce((a, c) => a + c, 0) / d;
        let dot = 0, nu = 0, nw = 0;
        for (let f = 0; f < d; f++) { dot += (u[f] - mu) * (w[f] - mw); nu += (u[f] - mu) ** 2; nw += (w[f] - mw) ** 2; }
        pv += dot / Math.sqrt(nu * nw) / (T * (T - 1) * B);
      }
    }
    expect(Math.abs(pv - ref[2])).toBeGreaterThan(1e-3);
  });
});

describe('input sampler reaches the requested mean, var and token correlation', () => {
  for (const r of [minR(16), -0.03, 0, 0.3, 0.9]) {
    it(`r = ${r.toPrecision(3)} (16 tokens)`, () => {
      const rows: number[][] = [];
      for (let s = 0; s < K; s++) rows.push(statsJs(sampleSequences(new Rng(100 + s), 8, 16, 256, { mean: 0.4, var: 2.5, r }), 8, 16, 256));
      const ms = (i: number): [number, number] => {
        const v = rows.map((x) => x[i]), m = v.reduce((a, b) => a + b, 0) / K;
        return [m, Math.sqrt(v.reduce((a, b) => a + (b - m) ** 2, 0) / (K - 1))];
      };
      within(ms(0), 0.4, 0.01, 'mean');
      within(ms(1), 2.5, 0.02 * 2.5, 'var');
      within(ms(2), r, 0.01, 'r');
    });
  }
  it('rejects a correlation no set of tokens can have, naming the field', async () => {
    await expect(verifyComponent({ block: 'relu', input: { r: -0.2 } }, { backend: 'wasm', seeds: 1, batch: 2, tokens: 16 })).rejects.toThrow(InputError);
    await expect(verifyComponent({ block: 'relu', input: { r: -0.2 } }, { backend: 'wasm', seeds: 1, batch: 2, tokens: 16 })).rejects.toThrow(/input\.r.*-1\/\(seqLen-1\)/);
  });
});

describe('blocks with exactly known moments', () => {
  const o = { backend: 'wasm' as const, seeds: K, batch: 8 };
  it('linear: var = dIn σ² (var + mean²), gradVar = dOut σ² g', async () => {
    const r = await verifyComponent({ block: 'linear', params: { dIn: 128, dOut: 256, std: 0.1 }, input: { mean: 0, var: 1.5, r: 0.3 }, grad: { var: 2, r: 0.1 } }, { ...o, tokens: 16 });
    within(r.measured.var, 128 * 0.01 * 1.5, 0.01 * 1.92, 'var');
    within(r.measured.gradVar, 256 * 0.01 * 2, 0.01 * 5.12, 'gradVar');
    within(r.measured.mean, 0, 0.01, 'mean');
  });
  it('dropout: mean kept, var = (σ² + pμ²)/(1−p), gradVar = g/(1−p), p = 0 leaves r unchanged', async () => {
    const p = 0.3, mu = 0.5;
    const r = await verifyComponent({ block: 'dropout', params: { p }, input: { mean: mu, var: 1, r: 0.2 }, grad: { var: 1, r: 0 } }, { ...o, tokens: 16, width: 256 });
    within(r.measured.mean, mu, 0.005, 'mean');
    within(r.measured.var, (1 + p * mu * mu) / (1 - p), 0.01, 'var');
    within(r.measured.gradVar, 1 / (1 - p), 0.01, 'gradVar');
    const id = await verifyComponent({ block: 'dropout', params: { p: 0 }, input: { mean: 0, var: 1, r: 0.6 }, grad: { var: 1, r: 0.25 } }, { ...o, tokens: 16, width: 256 });
    within(id.measured.r, 0.6, 0.01, 'r (identity)');
    within(id.measured.gradR, 0.25, 0.01, 'gradR (identity)');
  });
  it('layernorm: every token normalised, so mean 0 and var s/(s+eps) ≈ 1 − eps/var exactly', async () => {
    const r = await verifyComponent({ block: 'layernorm', params: { d: 64, eps: 1e-5 }, input: { mean: 3, var: 4, r: 0.5 } }, { ...o, tokens: 16 });
    expect(Math.abs(r.measured.mean![0])).toBeLessThan(1e-5);
    expect(Math.abs(r.measured.var![0] - 1)).toBeLessThan(1e-4);
  });
});
