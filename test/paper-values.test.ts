/**
 * The DSLM paper's published component formulas (Kedia et al., ICML 2024; transcribed in
 * /work/shared/reference/moment-formulas.md) written out independently HERE, and compared with
 * `component` where the catalogue claims to coincide with them: linear, ReLU (zero mean), GeLU
 * (zero mean), LayerNorm forward (and backward in the large-d limit), dropout, the FFN block
 * (p = 0) and single-head attention in the zero-score limit (V path; p_a = 0).
 * These are exact closed forms, so the tolerance is floating-point (1e-9 relative), except where
 * noted (the catalogue's quadrature parts: 1e-6; LayerNorm's O(1/d) terms at d = 1e6: 1e-5).
 */
import { describe, expect, it } from 'vitest';
import { component } from '../src/index.js';

const { PI, sqrt, asin, acos } = Math;
const close = (a: number, b: number, tol: number) => expect(Math.abs(a - b)).toBeLessThanOrEqual(tol * Math.max(1, Math.abs(b)));

const points = [
  { v: 0.25, r: 0 }, { v: 1, r: 0.5 }, { v: 4, r: 0.9 }, { v: 2, r: 0.2 },
];

describe('DSLM published component formulas', () => {
  it('Linear: σ²_out = d_in σ_w²(σ² + μ²), r_out = (rσ² + μ²)/(σ² + μ²), σ²_g = d_out σ_w² σ²_g, r_g unchanged', () => {
    for (const { v, r } of points) for (const mu of [0, 0.7]) for (const [dIn, dOut, w] of [[512, 2048, 0.02], [64, 64, 0.125]]) {
      const g = { var: 1.7, r: 0.3 };
      const a = component({ block: 'linear', params: { dIn, dOut, std: w }, input: { mean: mu, var: v, r }, grad: g });
      close(a.mean, 0, 1e-12);
      close(a.var, dIn * w * w * (v + mu * mu), 1e-9);
      close(a.r, (r * v + mu * mu) / (v + mu * mu), 1e-9);
      close(a.gradVar, dOut * w * w * g.var, 1e-9);
      close(a.gradR, g.r, 1e-12);
    }
  });

  it('ReLU, zero-mean input: arc-cosine moments', () => {
    for (const { v, r } of points) {
      const g = { var: 2, r: 0.4 };
      const a = component({ block: 'relu', params: {}, input: { mean: 0, var: v, r }, grad: g });
      const mean = sqrt(v) / sqrt(2 * PI);
      const variance = (v * (PI - 1)) / (2 * PI);
      const cov = (v / (2 * PI)) * (PI * r + sqrt(1 - r * r) - r * acos(r) - 1);
      close(a.mean, mean, 1e-9);
      close(a.var, variance, 1e-9);
      close(a.r, cov / variance, 1e-9);
      close(a.gradVar, g.var / 2, 1e-9);
      close(a.gradR, (0.5 + asin(r) / PI) * g.r, 1e-9);
    }
  });

  it('GeLU (erf), zero-mean input: DSLM closed forms for mean, var, covariance and gradient variance', () => {
    for (const { v, r } of points) {
      const s = v, a2 = s / (1 + s);
      const g = { var: 1.3, r: 0.2 };
      const a = component({ block: 'gelu', params: { approximate: 'none' }, input: { mean: 0, var: s, r }, grad: g });
      const mean = s / sqrt(2 * PI * (1 + s));
      const variance = (s / (2 * PI)) * (PI - a2 - acos(a2) + 2 * a2 * sqrt((1 - a2) / (1 + a2)));
      const cov = (s / 4) * (r + (2 / PI) * r * asin(r * a2) + (2 / PI) * s * (s * (1 - r * r) + (1 + r * r)) / ((s + 1) * sqrt((s + 1) ** 2 - (r * s) ** 2))) - mean * mean;
      const gradVar = g.var * (0.5 + (1 / (2 * PI)) * (-acos(a2) + (a2 * (5 * s + 3)) / (1 + 2 * s) ** 1.5));
      close(a.mean, mean, 1e-9);
      close(a.var, variance, 1e-9);
      close(a.r, cov / variance, 1e-9);
      close(a.gradVar, gradVar, 1e-9);
    }
  });

  it('LayerNorm: forward mean 0, variance 1; backward σ²_g/σ² in the large-d limit, r_g unchanged', () => {
    // DSLM drops the O(1/d) Jacobian terms and eps; at d = 1e6 and σ² ≫ eps they are < 1e-5.
    for (const { v, r } of points) {
      const a = component({ block: 'layernorm', params: { d: 1_000_000 }, input: { mean: 0.3, var: v, r }, grad: { var: 2, r: 0.5 } });
      close(a.mean, 0, 1e-12);
      close(a.var, 1, 1e-4);
      close(a.gradVar, 2 / v, 1e-4);
      close(a.gradR, 0.5, 1e-5);
    }
  });

  it('Dropout: μ kept, σ²_out = (σ² + pμ²)/(1−p), r_out = (1−p)r at μ = 0, σ²_g/(1−p), r_g(1−p)', () => {
    for (const { v, r } of points) for (const p of [0.1, 0.3, 0.5]) for (const mu of [0, 1.2]) {
      const g = { var: 0.8, r: 0.6 };
      const a = component({ block: 'dropout', params: { p }, input: { mean: mu, var: v, r }, grad: g });
      close(a.mean, mu, 1e-12);
      close(a.var, (v + p * mu * mu) / (1 - p), 1e-9);
      if (mu === 0) close(a.r, (1 - p) * r, 1e-9);
      close(a.gradVar, g.var / (1 - p), 1e-9);
      close(a.gradR, (1 - p) * g.r, 1e-9);
    }
  });

  it('FFN block (ReLU, p = 0): σ²_out = (d_ff/2)dσ1²σ2²σ², r = (1/2 + asin r/π)r + √(1−r²)/π, backward likewise', () => {
    for (const { v, r } of points) {
      const d = 256, F = 1024, s1 = 0.05, s2 = 0.03, g = { var: 1.1, r: 0.35 };
      const a = component({ block: 'ffn', params: { dModel: d, dFF: F, activation: 'relu', std1: s1, std2: s2 }, input: { mean: 0, var: v, r }, grad: g });
      const gain = (F / 2) * d * s1 * s1 * s2 * s2;
      close(a.var, gain * v, 1e-9);
      close(a.r, (0.5 + asin(r) / PI) * r + sqrt(1 - r * r) / PI, 1e-9);
      close(a.gradVar, g.var * gain, 1e-9);
      close(a.gradR, (0.5 + asin(r) / PI) * g.r, 1e-9);
    }
  });

  it('single-head attention, zero scores, p_a = 0: σ²_out = d²σ_v²σ_o²σ²(r + (1−r)/L), V-path backward', () => {
    // Zero scores (σ_q = 0): the softmax is uniform, Q/K paths carry no gradient, and the DSLM
    // small-score rows are exact: Cov_out = d²σ_v²σ_o²σ²(r + (1−r)/L) as well, and
    // σ²_g,in = σ²_g · d_h σ_v² (1 + (L−1) r_g)/L · dσ_o² (d_h = d for one head).
    for (const { v, r } of points) for (const L of [8, 128]) {
      const d = 128, sv = 0.08, so = 0.11, g = { var: 1.5, r: 0.25 };
      const a = component({ block: 'attention', params: { dModel: d, heads: 1, stdQ: 0, stdK: 0.1, stdV: sv, stdO: so, seqLen: L }, input: { mean: 0, var: v, r }, grad: g });
      const gain = d * d * sv * sv * so * so;
      const variance = gain * v * (r + (1 - r) / L);
      close(a.mean, 0, 1e-12);
      close(a.var, variance, 1e-6);
      close(a.r, 1, 1e-6); // Cov = Var: every token gets the same uniform average of the values
      close(a.gradVar, g.var * d * sv * sv * (1 + (L - 1) * g.r) / L * d * so * so, 1e-6);
    }
  });
});
