/**
 * Named schemes: constants recomputed here from the published formulas (DeepNet table, GPT-2,
 * Admin, T-Fixup, DeepScaleLM, Glorot) and compared with what each scheme writes into the config.
 */
import { describe, expect, it } from 'vitest';
import { resolveConfig } from '../src/config.js';
import { applyBasicScheme, deepnormConstants, SCHEME_NAMES, SCHEMES } from '../src/schemes.js';
import { advise } from '../src/advise.js';

const d = 256, f = 1024;
const arch = (o: Record<string, unknown> = {}) => resolveConfig({ layers: 6, dModel: d, heads: 4, dFF: f, seqLen: 32, norm: 'post', dropout: 0.1, input: { mean: 0, var: 1, r: 0.2 }, ...o });
const xav = (a: number, b: number) => Math.sqrt(2 / (a + b));

describe('scheme constants match their papers', () => {
  it('DeepNorm table (DeepNet Fig. 2): encoder, decoder, encoder-decoder rows', () => {
    const N = 6, M = 18;
    expect(deepnormConstants('encoder', N, N).alpha).toBeCloseTo(Math.pow(2 * N, 1 / 4), 14);
    expect(deepnormConstants('encoder', N, N).beta).toBeCloseTo(Math.pow(8 * N, -1 / 4), 14);
    expect(deepnormConstants('decoder', M, M).alpha).toBeCloseTo(Math.pow(2 * M, 1 / 4), 14);
    expect(deepnormConstants('decoder', M, M).beta).toBeCloseTo(Math.pow(8 * M, -1 / 4), 14);
    expect(deepnormConstants('encdec-encoder', N, M).alpha).toBeCloseTo(0.81 * Math.pow(N ** 4 * M, 1 / 16), 14);
    expect(deepnormConstants('encdec-encoder', N, M).beta).toBeCloseTo(0.87 * Math.pow(N ** 4 * M, -1 / 16), 14);
    expect(deepnormConstants('encdec-encoder', N, M, 'torchscale').beta).toBeCloseTo(1.15 * Math.pow(N ** 4 * M, -1 / 16), 14);
    expect(deepnormConstants('encdec-decoder', N, M).alpha).toBeCloseTo(Math.pow(3 * M, 1 / 4), 14);
    expect(deepnormConstants('encdec-decoder', N, M).beta).toBeCloseTo(Math.pow(12 * M, -1 / 4), 14);
    // the documented disagreement is stated
    expect(SCHEMES.deepnorm.caveats.join(' ')).toMatch(/0\.87.*1\.15/);
  });

  it('DeepNorm config: skip α, branch 1, Xavier gain β on v, o, ffn and gain 1 on q, k', () => {
    const c = applyBasicScheme('deepnorm', arch()).config;
    const a = Math.pow(12, 1 / 4), b = Math.pow(48, -1 / 4);
    expect(c.skip[0]).toBeCloseTo(a, 14); expect(c.branch[0]).toBe(1);
    expect(c.init.qk[0]).toBeCloseTo(xav(d, d), 14);
    expect(c.init.v[0]).toBeCloseTo(b * xav(d, d), 14);
    expect(c.init.o[0]).toBeCloseTo(b * xav(d, d), 14);
    expect(c.init.ffn1[0]).toBeCloseTo(b * xav(d, f), 14);
    expect(c.init.ffn2[0]).toBeCloseTo(b * xav(f, d), 14);
    const dec = applyBasicScheme('deepnorm', arch({ causal: true, layers: 10 })).config; // causal → decoder row
    expect(dec.skip[0]).toBeCloseTo(Math.pow(20, 1 / 4), 14);
    const ed = applyBasicScheme('deepnorm', arch(), { deepnormVariant: 'encdec-encoder', otherLayers: 12, deepnormBeta: 'torchscale' }).config;
    expect(ed.init.v[0] / xav(d, d)).toBeCloseTo(1.15 * Math.pow(6 ** 4 * 12, -1 / 16), 14);
  });

  it('GPT-2: 0.02 everywhere, o and ffn2 0.02/√(2N)', () => {
    const c = applyBasicScheme('gpt2', arch({ layers: 12 })).config;
    expect(c.init.qk[0]).toBe(0.02); expect(c.init.v[5]).toBe(0.02); expect(c.init.ffn1[11]).toBe(0.02);
    expect(c.init.o[3]).toBeCloseTo(0.02 / Math.sqrt(24), 15);
    expect(c.init.ffn2[3]).toBeCloseTo(0.02 / Math.sqrt(24), 15);
    expect(c.skip.every((x) => x === 1) && c.branch.every((x) => x === 1)).toBe(true);
  });

  it('BERT and Xavier', () => {
    const b = applyBasicScheme('bert', arch()).config;
    expect([b.init.qk[0], b.init.v[0], b.init.o[0], b.init.ffn1[0], b.init.ffn2[0]]).toEqual([0.02, 0.02, 0.02, 0.02, 0.02]);
    const x = applyBasicScheme('xavier', arch()).config;
    expect(x.init.ffn1[0]).toBeCloseTo(Math.sqrt(2 / (d + f)), 15);
    expect(x.init.qk[0]).toBeCloseTo(1 / Math.sqrt(d), 15);
  });

  it('Admin ω = √((n+1)/ln(n+1) − 1), n = 2N residual sub-layers', () => {
    const c = applyBasicScheme('admin', arch({ layers: 18 })).config;
    expect(c.skip[0]).toBeCloseTo(Math.sqrt(37 / Math.log(37) - 1), 14);
    expect(c.branch[0]).toBe(1);
  });

  it('T-Fixup: encoder 0.67·N^{-1/4}, decoder (9N)^{-1/4} on v, o, ffn', () => {
    const e = applyBasicScheme('t-fixup', arch({ layers: 16 })).config;
    expect(e.init.o[0] / xav(d, d)).toBeCloseTo(0.67 * Math.pow(16, -1 / 4), 14);
    expect(e.init.ffn2[0] / xav(f, d)).toBeCloseTo(0.67 * Math.pow(16, -1 / 4), 14);
    expect(e.init.qk[0]).toBeCloseTo(xav(d, d), 14);
    const dd = applyBasicScheme('t-fixup', arch({ layers: 16, causal: true })).config;
    expect(dd.init.v[0] / xav(d, d)).toBeCloseTo(Math.pow(144, -1 / 4), 14);
  });

  it('DeepScaleLM: λ²+β²=1, β²=k/N, Q,K σ²=1/d, FFN σ²=√((1−p)/2)/d, V,O σ²=√((1−p)/r_l)/d with r_1 = input r', () => {
    const c = applyBasicScheme('deepscalelm', arch({ layers: 8, norm: 'pre' }), { k: 1 }).config;
    const p = 0.1;
    for (let l = 0; l < 8; l++) {
      expect(c.skip[l] ** 2 + c.branch[l] ** 2).toBeCloseTo(1, 14);
      expect(c.branch[l] ** 2).toBeCloseTo(1 / 8, 14);
    }
    expect(c.init.qk[0] ** 2).toBeCloseTo(1 / d, 15);
    expect(c.init.ffn1[0] ** 2).toBeCloseTo(Math.sqrt((1 - p) / 2) / d, 15);
    expect(c.init.ffn2[0] ** 2).toBeCloseTo(Math.sqrt((1 - p) / 2) / d, 15);
    expect(c.init.v[0] ** 2).toBeCloseTo(Math.sqrt((1 - p) / 0.2) / d, 15); // r entering layer 1 = input r = 0.2
    // r grows with depth ⇒ V/O std shrinks
    expect(c.init.v[7]).toBeLessThan(c.init.v[0]);
  });
});

describe('every scheme keeps the architecture and predicts a profile', () => {
  it('all schemes', () => {
    const cfg = arch({ layers: 6, norm: 'pre' });
    for (const s of SCHEME_NAMES) {
      const a = advise(cfg, { scheme: s, noFormulas: true });
      expect(a.config.layers).toBe(6); expect(a.config.dModel).toBe(d); expect(a.config.norm).toBe('pre'); expect(a.config.input).toEqual(cfg.input);
      expect(a.predicted.layers.length).toBe(7);
      expect(SCHEMES[s].source.length).toBeGreaterThan(10);
    }
  });
});
