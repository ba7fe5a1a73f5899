/**
 * The TF.js harness model agrees with an independent float64 implementation of config v1
 * (test/verify-reference.ts: plain JS, hand-written backward) given identical weights, inputs,
 * upstream gradient and dropout masks. Both attention code paths are checked: the wasm "blocked"
 * path (per-head [B·T, B·T] scores with custom NN-form gradients) and the batched path (cpu).
 *
 * Tolerance: float32 against float64. One float32 rounding is 6e-8 relative; a tiny model (d ≤ 24,
 * ≤ 3 layers) accumulates at most a few hundred roundings per value, so statistics agree to ~1e-5;
 * we allow 2e-4 relative for var/gradVar and 2e-4 × scale absolute for mean, r, gradR (a wrong sign,
 * mask, scale or missing term changes them by ≥ 1e-2, see the mutation check at the end).
 */
import { beforeAll, describe, expect, it } from 'vitest';
import * as tf from '@tensorflow/tfjs';
import { resolveConfig, type ResolvedConfig } from '../src/config.js';
import { initBackend } from '../verify/backend.js';
import { Model, drawPass, drawWeights } from '../verify/model.js';
import { referencePass } from './verify-reference.js';
import { Rng } from '../verify/rng.js';
import { sampleSequences } from '../verify/inputs.js';

const base = { layers: 2, dModel: 16, heads: 2, dFF: 24, seqLen: 6, init: { qk: 0.35, v: 0.3, o: 0.3, ffn1: 0.3, ffn2: 0.25, ffn3: 0.3 } };
const CASES: [string, Record<string, unknown>][] = [
  ['pre-LN relu, causal, dropout, finalNorm, per-layer arrays, input mean and r',
    { ...base, layers: 3, causal: true, dropout: 0.2, finalNorm: true, residual: { skip: [1, 0.9, 0.8], branch: [1, 0.7, 0.5] }, init: { ...base.init, qk: [0.35, 0.5, 0.2] }, input: { mean: 0.3, var: 1.5, r: 0.25 } }],
  ['post-RMSNorm gelu, λ/β (DeepNorm-style skip), negative r', { ...base, norm: 'post', normKind: 'rmsnorm', activation: 'gelu', residual: { skip: 1.6, branch: 0.6 }, input: { mean: 0, var: 1, r: -0.1 } }],
  ['pre-RMSNorm swiglu causal dropout', { ...base, normKind: 'rmsnorm', activation: 'swiglu', causal: true, dropout: 0.1, input: { r: 0.5 } }],
  ['pre-LN gelu, separate rates: dropout 0.2, attnDropout 0, actDropout 0.3', { ...base, activation: 'gelu', dropout: 0.2, attnDropout: 0, actDropout: 0.3, input: { r: 0.2 } }],
  ['post-RMSNorm swiglu causal, only attnDropout 0.3 and actDropout 0.15 (dropout 0)', { ...base, norm: 'post', normKind: 'rmsnorm', activation: 'swiglu', causal: true, attnDropout: 0.3, actDropout: 0.15, input: { r: 0.3 } }],
  ['post-LN gelu_tanh, eps 1e-3', { ...base, norm: 'post', activation: 'gelu_tanh', eps: 1e-3, input: { mean: -0.2, var: 2 } }],
  ['pre-LN silu, batch of 3 sequences, 4 heads', { ...base, dModel: 24, heads: 4, activation: 'silu', input: { r: 0.1 } }],
];
const B = 3;

async function tfStats(cfg: ResolvedConfig, blocked: boolean, seed: number) {
  const m = new Model(tf, cfg, drawWeights(cfg, seed), { batch: B, blocked });
  try { return await m.pass(drawPass(cfg, B, seed)); } finally { m.dispose(); }
}

function expectClose(got: { fwd: number[][]; grad: number[][] }, want: { fwd: number[][]; grad: number[][] }) {
  for (const [k, rows] of [['fwd', got.fwd], ['grad', got.grad]] as const) {
    const ref = want[k];
    expect(rows.length).toBe(ref.length);
    rows.forEach((row, l) => {
      const [m, v, r] = row, [mr, vr, rr] = ref[l];
      const scale = Math.sqrt(vr + mr * mr);
      const ctx = `${k} entry ${l}: got [${row.join(', ')}] want [${ref[l].join(', ')}]`;
      expect(Math.abs(v - vr) / vr, ctx).toBeLessThan(2e-4);
      expect(Math.abs(m - mr) / scale, ctx).toBeLessThan(2e-4);
      expect(Math.abs(r - rr), ctx).toBeLessThan(2e-4);
    });
  }
}

for (const backend of ['wasm', 'cpu'] as const) {
  describe(`verify model on ${backend} (${backend === 'wasm' ? 'blocked attention, custom gradients' : 'batched attention, autodiff'}) = float64 reference`, () => {
    beforeAll(async () => { await initBackend(backend, 0, true); });
    for (const [name, raw] of CASES) {
      it(name, async () => {
        await initBackend(backend, 0, true);
        const cfg = resolveConfig(raw);
        const got = await tfStats(cfg, backend === 'wasm', 7);
        const want = referencePass(cfg, drawWeights(cfg, 7), drawPass(cfg, B, 7), B);
        expectClose(got, want);
      });
    }
  });
}

describe('the agreement check has teeth', () => {
  it('a model with a different config (skip 1 → 0.95) disagrees with the reference by far more than the tolerance', async () => {
    await initBackend('wasm', 0, true);
    const cfg = resolveConfig(CASES[0][1]);
    const wrong = resolveConfig({ ...CASES[0][1], residual: { skip: [0.95, 0.9, 0.8], branch: [1, 0.7, 0.5] } });
    const got = await tfStats(wrong, true, 7);
    const want = referencePass(cfg, drawWeights(cfg, 7), drawPass(cfg, B, 7), B);
    const dv = Math.abs(got.fwd[1][1] - want.fwd[1][1]) / want.fwd[1][1];
    expect(dv).toBeGreaterThan(1e-2);
  });
});

describe('dropout masks: one per place with its own rate, drawn in the order of the one-rate harness', () => {
  it('with one rate (no attnDropout/actDropout) the draws are exactly those of the original order: per layer probs, attnOut, act, ffnOut', () => {
    const raw = { ...base, layers: 2, dropout: 0.2, input: { r: 0.3 } };
    const cfg = resolveConfig(raw);
    const got = drawPass(cfg, B, 5, 1);
    // the original drawing code, inlined: inputs, G, then the four masks of every layer at rate p
    const rng = new Rng(5, 1000 + 1);
    const T = cfg.seqLen, d = cfg.dModel;
    expect(got.x).toEqual(sampleSequences(rng, B, T, d, cfg.input));
    expect(got.g).toEqual(rng.normals(B * T * d, 1));
    for (let l = 0; l < cfg.layers; l++) {
      expect(got.masks![l].probs).toEqual(rng.dropoutMask(B * cfg.heads * T * T, 0.2));
      expect(got.masks![l].attnOut).toEqual(rng.dropoutMask(B * T * d, 0.2));
      expect(got.masks![l].act).toEqual(rng.dropoutMask(B * T * cfg.dFF, 0.2));
      expect(got.masks![l].ffnOut).toEqual(rng.dropoutMask(B * T * d, 0.2));
    }
    expect(drawPass(resolveConfig({ ...raw, attnDropout: 0.2, actDropout: 0.2 }), B, 5, 1)).toEqual(got);
    expect(drawPass(resolveConfig({ ...raw, dropout: 0 }), B, 5, 1).masks).toBeNull();
  });
  it('separate rates: each mask drops its own fraction (keep value 1/(1−p)), a place with rate 0 has no mask', () => {
    const cfg = resolveConfig({ ...base, layers: 2, dModel: 32, heads: 2, dFF: 128, seqLen: 32, dropout: 0.2, attnDropout: 0, actDropout: 0.5 });
    const { masks } = drawPass(cfg, 4, 9);
    // fraction of zeros over n ≥ 16384 entries: binomial std ≤ 0.004, checked to 0.02
    const frac = (m: Float32Array) => m.reduce((a, v) => a + (v === 0 ? 1 : 0), 0) / m.length;
    const keep = (m: Float32Array) => m.find((v) => v !== 0);
    for (const lm of masks!) {
      expect(lm.probs).toBeUndefined();
      expect(Math.abs(frac(lm.attnOut!) - 0.2)).toBeLessThan(0.02);
      expect(Math.abs(frac(lm.ffnOut!) - 0.2)).toBeLessThan(0.02);
      expect(Math.abs(frac(lm.act!) - 0.5)).toBeLessThan(0.02);
      expect(keep(lm.attnOut!)).toBeCloseTo(1 / 0.8, 6);
      expect(keep(lm.act!)).toBeCloseTo(2, 6);
      expect(lm.act!.length).toBe(4 * 32 * 128);
    }
    const only = drawPass(resolveConfig({ ...base, layers: 1, dropout: 0, attnDropout: 0.3 }), 2, 9).masks![0];
    expect([only.attnOut, only.act, only.ffnOut]).toEqual([undefined, undefined, undefined]);
    expect(Math.abs(frac(only.probs!) - 0.3)).toBeLessThan(0.1); // 2·2·6·6 = 144 entries
  });
});
