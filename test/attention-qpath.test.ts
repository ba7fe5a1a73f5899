/**
 * The attention Q path at small head dimension (issue 4; formulas/attention.ts qPathGain).
 *  1. T = E[Σ_j P_j²(z_j − z̄_P)²] and W = E[(Σ_j P_j(z_j − z̄_P)²)²] of a softmax row of n iid N(0, v)
 *     logits (formulas/softmax.ts softmaxTqInto, deterministic quadrature) against direct sampling.
 *     Tolerance: 4 standard errors of the sample mean plus 0.5 % (the interpolation in ln v, step
 *     1/2, is < 0.3 % relative for n ≤ 128, 0.9 % / 2 % for T / W at n = 4096: checked below against
 *     the quadrature at v itself; T enters the Q path with weight f ≤ 0.28, W with f/d).
 *  2. The Q path alone (test/mc/attention-paths.ts, d = 64, r = r_g = 0, σ_v = σ_o = 1/√d, 40
 *     trials of B = 2 sequences) against qPathGain. Tolerance: 4 MC standard errors + 5 %: the 5 % is
 *     the model's row-variance law (u lognormal, moment-matched) against the exact law of the
 *     Gaussian weights at d_h = 4: the Q gain averaged over the exact law differs from the
 *     lognormal one by up to 4.6 % (L = 128, v = 10), 3.4 % at L = 32 (sampled, 20,000 weight draws).
 *     The former gain J′ + (1 − 2S2 + Q4 + J′)/d was 20–45 MC standard errors high at 16 heads
 *     (100 trials: L = 32, σ_s² = 30, non-causal 2.856 vs 2.093 ± 0.025, causal 2.497 vs 1.882 ± 0.024).
 */
import { describe, expect, it } from 'vitest';
import { softmaxTiltInto, softmaxTqDirect, softmaxTqInto } from '../formulas/softmax.js';
import { attention, attnSoftmaxRows, qPathGain } from '../formulas/attention.js';
import { queryDirFrac } from '../formulas/softmax.js';
import { R_C } from '../formulas/_core.js';
import { attentionPathsMC, meanSe } from './mc/attention-paths.js';

function gaussian(seed: number): () => number {
  let a = seed >>> 0;
  const u = () => { a = (a + 0x6d2b79f5) >>> 0; let t = a; t = Math.imul(t ^ (t >>> 15), t | 1); t ^= t + Math.imul(t ^ (t >>> 7), t | 61); return ((t ^ (t >>> 14)) >>> 0) / 4294967296; };
  return () => Math.sqrt(-2 * Math.log(u() + 1e-300)) * Math.cos(2 * Math.PI * u());
}

// with the tilt's M2 = E[z̄_P²] and W2 = E[Σ_j P_j² z_j²] (softmaxTiltInto, formulas/attention.ts
// tiltVar; test/attention-tilt.test.ts), the same row statistics from the same quadrature
describe('T, W, M2 and W2 of a softmax row vs direct sampling', () => {
  for (const [n, v, M] of [[2, 1, 200000], [7, 3, 60000], [32, 1, 20000], [32, 10, 20000], [32, 100, 20000], [128, 10, 6000]] as const) {
    it(`n=${n} v=${v}`, () => {
      const g = gaussian(77 + n * 13 + v), z = new Float64Array(n), P = new Float64Array(n), sd = Math.sqrt(v);
      let st = 0, st2 = 0, sw = 0, sw2 = 0, sm = 0, sm2 = 0, sq = 0, sq2 = 0;
      for (let m = 0; m < M; m++) {
        let mx = -Infinity;
        for (let j = 0; j < n; j++) { z[j] = g(); if (sd * z[j] > mx) mx = sd * z[j]; }
        let Z = 0;
        for (let j = 0; j < n; j++) { P[j] = Math.exp(sd * z[j] - mx); Z += P[j]; }
        let zb = 0;
        for (let j = 0; j < n; j++) { P[j] /= Z; zb += P[j] * z[j]; }
        let t = 0, s = 0;
        let q = 0;
        for (let j = 0; j < n; j++) { const w = (z[j] - zb) ** 2; t += P[j] * P[j] * w; s += P[j] * w; q += P[j] * P[j] * z[j] * z[j]; }
        st += t; st2 += t * t; sw += s * s; sw2 += s ** 4; sm += zb * zb; sm2 += zb ** 4; sq += q; sq2 += q * q;
      }
      const mt = st / M, set = Math.sqrt(Math.max(st2 / M - mt * mt, 0) / M);
      const mw = sw / M, sew = Math.sqrt(Math.max(sw2 / M - mw * mw, 0) / M);
      const mm = sm / M, sem = Math.sqrt(Math.max(sm2 / M - mm * mm, 0) / M);
      const mq = sq / M, seq = Math.sqrt(Math.max(sq2 / M - mq * mq, 0) / M);
      const o = new Float64Array(2), a = new Float64Array(2);
      softmaxTqInto(n, v, o); softmaxTiltInto(n, v, a);
      expect(Math.abs(o[0] - mt), `T ${o[0]} vs ${mt} ± ${set}`).toBeLessThanOrEqual(4 * set + 0.005 * mt);
      expect(Math.abs(o[1] - mw), `W ${o[1]} vs ${mw} ± ${sew}`).toBeLessThanOrEqual(4 * sew + 0.005 * mw);
      expect(Math.abs(a[0] - mm), `M2 ${a[0]} vs ${mm} ± ${sem}`).toBeLessThanOrEqual(4 * sem + 0.005 * mm);
      expect(Math.abs(a[1] - mq), `W2 ${a[1]} vs ${mq} ± ${seq}`).toBeLessThanOrEqual(4 * seq + 0.005 * mq);
    });
  }
  it('interpolation in ln v against the quadrature at v (< 0.3 % relative for n ≤ 128)', () => {
    const o = new Float64Array(2), a = new Float64Array(2);
    for (const n of [3, 32, 100]) for (const v of [0.013, 0.7, 5.3, 42, 310]) {
      softmaxTqInto(n, v, o); softmaxTiltInto(n, v, a);
      const d = softmaxTqDirect(n, v);
      expect(Math.abs(o[0] / d.tq - 1), `T n=${n} v=${v}`).toBeLessThan(3e-3);
      expect(Math.abs(o[1] / d.w - 1), `W n=${n} v=${v}`).toBeLessThan(3e-3);
      expect(Math.abs(a[0] / d.m2 - 1), `M2 n=${n} v=${v}`).toBeLessThan(3e-3);
      expect(Math.abs(a[1] / d.w2 - 1), `W2 n=${n} v=${v}`).toBeLessThan(3e-3);
    }
  });
});

describe('attention Q path alone vs float64 Monte-Carlo (d = 64, 16 heads)', () => {
  const d = 64, h = 16, L = 32, sv = 30, trials = 40;
  const tol = (pred: number, m: { mean: number; se: number }) => 4 * m.se + 0.05 * m.mean;
  it('non-causal L=32 σ_s²=30', () => {
    const w = Math.pow(sv, 0.25) / Math.sqrt(d);
    const p = { dModel: d, heads: h, stdQ: w, stdK: w, stdV: 1 / Math.sqrt(d), stdO: 1 / Math.sqrt(d), seqLen: L };
    const f = attention.forward(p, { mean: 0, var: 1, r: 0 });
    const pred = (f.cache as unknown as Float64Array)[R_C + 4]; // vq: the Q path per unit upstream variance
    const m = meanSe(attentionPathsMC({ d, heads: h, L, scoreVar: sv, r: 0, rg: 0, causal: false, B: 2 }, trials, 9001).map((t) => t.Q));
    expect(Math.abs(pred - m.mean), `Q path ${pred} vs MC ${m.mean} ± ${m.se}`).toBeLessThanOrEqual(tol(pred, m));
  });
  it('causal L=32 σ_s²=30 (the rows of n = 1..L keys, averaged over positions)', () => {
    const R = attnSoftmaxRows(sv, L, d, h), fq = queryDirFrac(d, h);
    let pred = 0;
    for (let n = 1; n <= L; n++) pred += (sv * qPathGain(R.jac[n], R.tq[n], R.tw[n], 1 - (2 * R.k2[n]) / n + R.q4[n], fq, d, 0)) / L;
    const m = meanSe(attentionPathsMC({ d, heads: h, L, scoreVar: sv, r: 0, rg: 0, causal: true, B: 2 }, trials, 9002).map((t) => t.Q));
    expect(Math.abs(pred - m.mean), `Q path ${pred} vs MC ${m.mean} ± ${m.se}`).toBeLessThanOrEqual(tol(pred, m));
  });
});
