/**
 * Invariants every correct moment calculus must satisfy, each derived from first principles
 * (stated next to the test), checked on the public API (component, predict from src/index.ts).
 * Tolerances are either exact-arithmetic (1e-12 relative) where the identity is exact in the
 * model, or the size of the named O(1/d) / eps term the derivation leaves out.
 */
import { describe, expect, it } from 'vitest';
import { component, predict } from '../src/index.js';

const rel = (a: number, b: number) => Math.abs(a - b) / Math.max(Math.abs(b), 1e-300);
const EXACT = 1e-12;

describe('block invariants', () => {
  it('LayerNorm output has mean 0 and variance ≈ 1 for any input variance and mean', () => {
    // y = (x − x̄)/√(v̂ + eps): mean_f y = 0 exactly, mean_f y² = v̂/(v̂ + eps) ∈ [1 − eps/v̂, 1].
    // v̂ ≈ σ²(1 − 1/d), so |var − 1| ≤ eps/(σ²(1 − 1/d)) (+ rounding).
    for (const d of [8, 128, 4096]) for (const v of [1e-2, 0.25, 1, 4, 1e4]) for (const mean of [0, 3]) {
      const a = component({ block: 'layernorm', params: { d }, input: { mean, var: v, r: 0.3 } });
      expect(Math.abs(a.mean)).toBeLessThanOrEqual(1e-12);
      expect(a.var).toBeLessThanOrEqual(1 + 1e-12);
      expect(1 - a.var).toBeLessThanOrEqual(1e-5 / (v * (1 - 1 / d)) * 1.0001 + 1e-12);
    }
  });

  it('RMSNorm output has mean square ≈ 1 (mean² + var = 1 up to eps)', () => {
    // y = x/√(mean_f x² + eps): mean_f y² = q/(q + eps), q = σ² + μ².
    for (const [mean, v] of [[0, 1], [2, 0.25], [-1, 4], [0.1, 1e-2]]) {
      const a = component({ block: 'rmsnorm', params: { d: 256 }, input: { mean, var: v, r: 0.5 } });
      const q = v + mean * mean;
      expect(Math.abs(a.mean * a.mean + a.var - 1)).toBeLessThanOrEqual(1e-5 / q * 1.0001 + 1e-12);
      // the sign of the mean survives the division by a positive rms
      expect(Math.sign(a.mean)).toBe(Math.sign(mean));
    }
  });

  it('dropout keeps the mean exactly and with p = 0 is the identity', () => {
    // E[x·m/(1−p)] = E[x]·E[m]/(1−p) = E[x] (mask independent of x, E[m] = 1 − p).
    for (const p of [0, 0.1, 0.5, 0.9]) for (const mean of [-2, 0, 0.5, 3]) {
      const x = { mean, var: 1.5, r: 0.4 }, g = { var: 2, r: 0.3 };
      const a = component({ block: 'dropout', params: { p }, input: x, grad: g });
      expect(a.mean).toBe(mean);
      // the variance can only grow: E[y²] = E[x²]/(1−p) ≥ E[x²], mean fixed
      expect(a.var).toBeGreaterThanOrEqual(x.var * (1 - EXACT));
      if (p === 0) {
        expect(rel(a.var, x.var)).toBeLessThanOrEqual(EXACT);
        expect(rel(a.r, x.r)).toBeLessThanOrEqual(EXACT);
        expect(rel(a.gradVar, g.var)).toBeLessThanOrEqual(EXACT);
        expect(rel(a.gradR, g.r)).toBeLessThanOrEqual(EXACT);
      }
    }
  });

  it('dropout: token covariance and gradient covariance are unchanged (independent masks per entry)', () => {
    // Cov(x_i m_i, x_j m_j)/(1−p)² = Cov(x_i, x_j) for i ≠ j (masks independent, E m = 1−p).
    for (const p of [0.1, 0.5]) for (const [v, r] of [[1, 0.5], [4, 0.9]]) {
      const a = component({ block: 'dropout', params: { p }, input: { mean: 0, var: v, r }, grad: { var: 3, r: 0.6 } });
      expect(rel(a.r * a.var, r * v)).toBeLessThanOrEqual(1e-12);
      expect(rel(a.gradR * a.gradVar, 0.6 * 3)).toBeLessThanOrEqual(1e-12);
    }
  });

  it('linear with std = 1/√dIn keeps the variance of a zero-mean input; gradient with dOut = dIn likewise', () => {
    // Var(Σ_k x_k W_kf) = dIn·σ_w²·σ² = σ² (weights independent of x, zero mean).
    for (const d of [16, 512]) for (const [v, r] of [[0.25, 0], [1, 0.5], [4, 0.9]]) {
      const a = component({ block: 'linear', params: { dIn: d, dOut: d, std: 1 / Math.sqrt(d) }, input: { mean: 0, var: v, r }, grad: { var: 2, r: 0.3 } });
      expect(rel(a.var, v)).toBeLessThanOrEqual(1e-12);
      expect(Math.abs(a.r - r)).toBeLessThanOrEqual(1e-12);
      expect(rel(a.gradVar, 2)).toBeLessThanOrEqual(1e-12);
      // dx = g Wᵀ is the same linear map for every token: the gradient correlation cannot change
      expect(Math.abs(a.gradR - 0.3)).toBeLessThanOrEqual(1e-12);
    }
  });

  it('softmax mean is exactly 1/n (the n outputs sum to 1 and are exchangeable)', () => {
    for (const n of [1, 2, 4, 64, 1000]) for (const v of [0, 0.1, 4, 100]) for (const r of [0, 0.9]) {
      const a = component({ block: 'softmax', params: { n }, input: { mean: 0.7, var: v, r } });
      expect(rel(a.mean, 1 / n)).toBeLessThanOrEqual(1e-12);
      // 0 ≤ p ≤ 1 and Σ p = 1 ⇒ Var(p) ≤ E[p] − E[p]² = (n − 1)/n² (one-hot limit)
      expect(a.var).toBeGreaterThanOrEqual(0);
      expect(a.var).toBeLessThanOrEqual((n - 1) / (n * n) * (1 + 1e-9));
      if (v === 0) expect(a.var).toBeLessThanOrEqual(1e-12); // equal logits → p = 1/n exactly
    }
  });

  it('ReLU at zero mean halves the gradient variance (P(x > 0) = 1/2 by symmetry)', () => {
    for (const [v, r] of [[0.25, 0], [1, 0.5], [4, 0.9]]) {
      const a = component({ block: 'relu', params: {}, input: { mean: 0, var: v, r }, grad: { var: 3, r: 0.2 } });
      expect(rel(a.gradVar, 1.5)).toBeLessThanOrEqual(1e-9);
    }
  });

  it('activations keep perfectly correlated tokens perfectly correlated (r = 1 ⇒ x_i = x_j)', () => {
    for (const block of ['relu', 'gelu', 'gelu_tanh', 'silu']) {
      const a = component({ block, params: {}, input: { mean: 0.3, var: 1, r: 1 }, grad: { var: 1, r: 1 } });
      expect(Math.abs(a.r - 1)).toBeLessThanOrEqual(1e-6);
      expect(Math.abs(a.gradR - 1)).toBeLessThanOrEqual(1e-6);
    }
  });

  // (This caught a real bug: the Q/K paths used to add ∝ σ_s² terms at L = 1, predicting gradVar
  // 436.5 instead of 1.6384 for the case below; MC 1.619 ± 0.013. Fixed in the catalogue.)
  it('attention with seqLen 1 is the composition of two linear maps (forward and backward)', () => {
    // L = 1: the only key gets probability 1, so out = x W_v W_o: var = d σ_v² · d σ_o² · (σ² + μ²)
    // (mean → shared offset, as for one linear map); backward the same gain.
    const d = 64, sv = 0.1, so = 0.2;
    const a = component({ block: 'attention', params: { dModel: d, heads: 4, stdQ: 0.3, stdK: 0.3, stdV: sv, stdO: so, seqLen: 1 }, input: { mean: 0, var: 2, r: 0 }, grad: { var: 1, r: 0 } });
    const gain = d * sv * sv * d * so * so;
    expect(rel(a.var, gain * 2)).toBeLessThanOrEqual(1e-9);
    expect(rel(a.gradVar, gain)).toBeLessThanOrEqual(1e-9);
  });

  it('residual: β = 0 passes the skip path scaled by λ; λ² + β² = 1 with unit-variance parts keeps variance 1', () => {
    // y = λx + βF, E[x·F] = 0 (F ends in an independent zero-mean linear map) ⇒ Var = λ²σ² + β²σ_F².
    const x = { mean: 0.5, var: 2, r: 0.4 };
    const a = component({ block: 'residual', params: { skip: 0.7, branch: 0, branchVar: 5, branchR: 0.1 }, input: x, grad: { var: 3, r: 0.2 } });
    expect(rel(a.mean, 0.35)).toBeLessThanOrEqual(EXACT);
    expect(rel(a.var, 0.49 * 2)).toBeLessThanOrEqual(EXACT);
    expect(rel(a.r, 0.4)).toBeLessThanOrEqual(EXACT);
    expect(rel(a.gradVar, 0.49 * 3)).toBeLessThanOrEqual(EXACT);
    for (const lam of [0, 0.3, 0.9, 0.99739, 1]) {
      const beta = Math.sqrt(1 - lam * lam);
      const b = component({ block: 'residual', params: { skip: lam, branch: beta, branchVar: 1, branchR: 0.2, branchGradGain: 1 }, input: { mean: 0, var: 1, r: 0.6 }, grad: { var: 1, r: 0.5 } });
      expect(Math.abs(b.var - 1)).toBeLessThanOrEqual(1e-12);
      expect(Math.abs(b.gradVar - 1)).toBeLessThanOrEqual(1e-12);
    }
  });
});

describe('engine invariants (predict)', () => {
  const base = { dModel: 128, heads: 4, dFF: 512, normKind: 'layernorm', activation: 'relu', dropout: 0, causal: false } as const;

  it('entry 0 is the input; entry N has the injected gradient (var 1, r 0); N + 1 entries', () => {
    const p = predict({ ...base, layers: 7, seqLen: 16, norm: 'pre', input: { mean: 0.2, var: 3, r: 0.25 } });
    expect(p.layers).toHaveLength(8);
    expect(p.layers[0]).toMatchObject({ layer: 0, mean: 0.2, var: 3, r: 0.25 });
    expect(p.layers[7].gradVar).toBe(1);
    expect(p.layers[7].gradR).toBe(0);
  });

  it('Pre-LN, λ² + β² = 1, unit-variance branches: variance stays 1 through 1000 layers', () => {
    // seqLen 1: attention = x W_v W_o exactly (one key, probability 1); with σ_v² = σ_o² = 1/d its
    // output variance is the LayerNorm output variance v/(v + eps) ≈ 1. FFN: Var = dFF σ_2²·dσ_1²/2
    // (ReLU halves E[h²] at zero mean) = 1 with σ_1² = 2/d, σ_2² = 1/dFF. Then
    // σ²_{l+1} = λ²σ²_l + β²·(1 − O(eps)) has the fixed point 1 − O(eps): |σ² − 1| ≤ 1e-4.
    const d = base.dModel, F = base.dFF;
    for (const lam of [0.6, 0.99739]) {
      const beta = Math.sqrt(1 - lam * lam);
      const p = predict({
        ...base, layers: 1000, seqLen: 1, norm: 'pre',
        residual: { skip: lam, branch: beta },
        init: { qk: 0.05, v: 1 / Math.sqrt(d), o: 1 / Math.sqrt(d), ffn1: Math.sqrt(2 / d), ffn2: 1 / Math.sqrt(F) },
        input: { mean: 0, var: 1, r: 0 },
      });
      for (const l of p.layers) expect(Math.abs((l.var as number) - 1)).toBeLessThanOrEqual(1e-4);
    }
  });

  it('Post-LN: every layer output has variance ≈ 1 and mean 0 (LayerNorm last)', () => {
    const p = predict({ ...base, layers: 24, seqLen: 32, norm: 'post', init: { qk: 0.02, v: 0.02, o: 0.02, ffn1: 0.02, ffn2: 0.02 }, input: { mean: 0, var: 1, r: 0.2 } });
    for (const l of p.layers.slice(1)) {
      expect(Math.abs(l.mean as number)).toBeLessThanOrEqual(1e-12);
      expect(Math.abs((l.var as number) - 1)).toBeLessThanOrEqual(1e-3); // eps/v̂, v̂ ≥ 0.01 here
    }
  });

  it('Pre-LN forward variance increases monotonically (λ = 1, β > 0)', () => {
    // x_{l+1} = x_l + F(LN(x_l)), F ending in a fresh zero-mean linear map: Var adds, σ²_{l+1} =
    // σ²_l + σ_F² ≥ σ²_l, strictly when σ_F² > 0.
    for (const cfg of [
      { ...base, layers: 48, seqLen: 32, norm: 'pre' as const, dropout: 0.1, init: { qk: 0.02, v: 0.02, o: 0.02, ffn1: 0.02, ffn2: 0.02 }, input: { mean: 0, var: 1, r: 0.2 } },
      { ...base, layers: 200, seqLen: 16, norm: 'pre' as const, causal: true, activation: 'gelu' as const, init: { qk: 0.1, v: 0.09, o: 0.09, ffn1: 0.09, ffn2: 0.05 }, input: { mean: 0, var: 1, r: 0 } },
    ]) {
      const p = predict(cfg);
      for (let l = 1; l < p.layers.length; l++) expect(p.layers[l].var as number).toBeGreaterThan(p.layers[l - 1].var as number);
    }
  });

  it('Pre-LN gradient telescoping: gradVar_l · var_l ≈ gradVar_N · var_N (ReLU, no dropout)', () => {
    // First principles: x_{l+1} = x_l + F(LN(x_l)). Forward, LN removes the scale σ_l so the
    // branch adds a fixed σ_F² = c: σ²_{l+1} = σ²_l + c. Backward, the LN Jacobian scales by 1/σ_l
    // and the branch (linear maps and ReLU: positively homogeneous, W1/W2 d↔dFF) has backward gain
    // equal to its forward gain c, so σ²_{g,l} = σ²_{g,l+1}(1 + c/σ²_l) = σ²_{g,l+1}σ²_{l+1}/σ²_l:
    // the product σ²_{g,l}σ²_l is constant. Attention is switched off (σ_v = σ_o = 0: the branch
    // is exactly 0 forward and backward) because its backward gain is not its forward gain.
    // How close: the LN Jacobian has rank d − 2, E[v̂] = σ²(1 − 1/d) and, by Jensen, E[1/v̂] =
    // (d − 1)/(d − 3)/E[v̂] for an iid-feature input, so each FFN step carries a factor
    // (1 + a(1 − 2/d)(d − 1)/((1 − 1/d)(d − 3)))/(1 + a) = (1 + a(d − 2)/(d − 3))/(1 + a), a = c/σ²_l:
    // deviation ≤ Σ a/((1+a)(d − 3)) ≤ ln(σ²_N/σ²_0)/(d − 3), plus eps/σ² ≤ 1e-5 per layer.
    const d = base.dModel, F = base.dFF, N = 100;
    const p = predict({
      ...base, layers: N, seqLen: 16, norm: 'pre',
      init: { qk: 0.05, v: 0, o: 0, ffn1: Math.sqrt(2 / d), ffn2: 0.5 / Math.sqrt(F) },
      input: { mean: 0, var: 1, r: 0.2 },
    });
    const L = p.layers;
    const top = (L[N].gradVar as number) * (L[N].var as number);
    const tol = Math.log((L[N].var as number) / (L[0].var as number)) / (d - 3) + N * 1e-5;
    expect(L[N].var as number).toBeGreaterThan(10); // the test is not vacuous: variance grew ~26×
    for (const l of L) expect(Math.abs(((l.gradVar as number) * (l.var as number)) / top - 1)).toBeLessThanOrEqual(tol);
  });

  it('a per-layer array equal to a constant gives the same profile as the constant', () => {
    const c = { ...base, layers: 5, seqLen: 8, norm: 'pre' as const, init: { qk: 0.03, v: 0.04, o: 0.05, ffn1: 0.06, ffn2: 0.07 } };
    const a = predict(c);
    const b = predict({ ...c, init: { qk: [0.03, 0.03, 0.03, 0.03, 0.03], v: 0.04, o: 0.05, ffn1: 0.06, ffn2: [0.07, 0.07, 0.07, 0.07, 0.07] } });
    expect(b.layers).toEqual(a.layers);
  });

  it('an array config answers with an array, same order', () => {
    const c1 = { ...base, layers: 3, seqLen: 8, norm: 'pre' as const };
    const c2 = { ...base, layers: 5, seqLen: 8, norm: 'post' as const };
    // (cast: the first overload, predict(config: ConfigV1 | unknown): Prediction, also matches arrays)
    const out = predict([c1, c2]) as unknown as { layers: unknown[] }[];
    expect(out).toHaveLength(2);
    expect(out[0].layers).toHaveLength(4);
    expect(out[1].layers).toHaveLength(6);
  });
});

describe('closed forms that replace quadrature', () => {
  it('ReLU at zero mean: per-token dispersion ratio 5 and gain γ = 1 for every variance (homogeneity), as the quadrature finds', async () => {
    // E[relu(σZ)²] = σ²/2, E[relu(σZ)⁴] = 3σ⁴/2 ⇒ E[f⁴]/E[f²]² − 1 = 5; E[f²] ∝ σ² ⇒ γ = d ln E[f²]/d ln σ² = 1.
    // The generic quadrature path (the same activation without its closed form) must agree to its
    // accuracy (48-node Gauss–Legendre per piece, central difference h = 1e-3 for γ: < 1e-9).
    const { activationDispersion } = await import('../formulas/_activation.js');
    const { RELU } = await import('../formulas/relu.js');
    const generic = { name: 'relu-by-quadrature', f: RELU.f, df: RELU.df, kink: RELU.kink };
    for (const s of [1e-3, 0.5, 1, 7, 300]) {
      const closed = activationDispersion(RELU, 0, s), quad = activationDispersion(generic, 0, s);
      expect(closed).toEqual({ ratio: 5, gamma: 1 });
      expect(Math.abs(quad.ratio - 5)).toBeLessThan(1e-9);
      expect(Math.abs(quad.gamma - 1)).toBeLessThan(1e-9);
    }
  });
});

describe('validity domains: a formula used outside its domain says so in the warnings', () => {
  const dom = (ws: string[]) => ws.filter((w) => /outside its domain/.test(w));
  it('LayerNorm / RMSNorm: eps not small against the per-token variance / mean square (0/0 named)', () => {
    // domain (formulas/layernorm.ts, rmsnorm.ts): eps small against v — the formulas take E[v/(v+eps)] at E[v]
    expect(dom(component({ block: 'layernorm', params: { d: 64 }, input: { var: 1e-6 } }).warnings)).toHaveLength(1);
    expect(dom(component({ block: 'layernorm', params: { d: 64 }, input: { var: 1 } }).warnings)).toHaveLength(0);
    expect(dom(component({ block: 'rmsnorm', params: { d: 64 }, input: { mean: 0, var: 0 } }).warnings)).toHaveLength(1);
    expect(dom(component({ block: 'rmsnorm', params: { d: 64 }, input: { mean: 1, var: 0 } }).warnings)).toHaveLength(0); // q = μ² = 1
    const a = component({ block: 'layernorm', params: { d: 64, eps: 0 }, input: { var: 0 } });
    expect(dom(a.warnings).join(' ')).toMatch(/0\/0/);
  });
  it('SiLU: input variance above 1e4 (where the quadrature is checked)', () => {
    expect(dom(component({ block: 'silu', input: { var: 1e6 } }).warnings)).toHaveLength(1);
    expect(dom(component({ block: 'silu', input: { var: 1e4 } }).warnings)).toHaveLength(0);
    expect(dom(component({ block: 'ffn', params: { dModel: 64, dFF: 256, activation: 'silu', std1: 100, std2: 0.1 } }).warnings)).toHaveLength(1);
  });
  it('predict names the layer: pre-norm, post-norm and final norm, plain and causal fold; none for a usual config', () => {
    const base = { layers: 2, dModel: 64, heads: 4, seqLen: 16 };
    for (const causal of [false, true]) {
      const pre = dom(predict({ ...base, causal, input: { var: 0 } }).warnings);
      expect(pre[0]).toMatch(/^layer 1 attn: .*layernorm outside its domain/);
      const post = dom(predict({ ...base, causal, norm: 'post', input: { var: 0 } }).warnings);
      expect(post[0]).toMatch(/^layer 1 attn: .*layernorm outside its domain/);
      const fin = dom(predict({ ...base, causal, finalNorm: true, residual: { skip: 0, branch: 0 } }).warnings);
      expect(fin.some((w) => /^after layer 2: final norm: layernorm outside its domain/.test(w))).toBe(true);
      const silu = dom(predict({ ...base, causal, activation: 'silu', init: { ffn1: 50 } }).warnings);
      expect(silu[0]).toMatch(/^layer 1 ffn: .*silu outside its domain/);
      expect(dom(predict({ ...base, causal }).warnings)).toHaveLength(0);
    }
  });
});

describe('correlations stay within [−1, 1]', () => {
  it('rounding past ±1 at r = 1 is cut: an FFN at mean 100, var 1e12 (r was 1 + 7e-12), ReLU at mean −3 (gradR was 1 + 3e-9: P(X > 0, Y > 0) ≤ P(X > 0))', () => {
    const f = component({ block: 'ffn', params: { dModel: 64, dFF: 256, activation: 'gelu', std1: 0.125, std2: 0.0625 }, input: { mean: 100, var: 1e12, r: 1 } });
    const a = component({ block: 'relu', input: { mean: -3, var: 0.01, r: 1 }, grad: { var: 1, r: 1 } });
    const b = component({ block: 'relu', input: { mean: -3, var: 0.01, r: 1 }, grad: { var: 1, r: -1 } });
    for (const x of [f, a, b]) for (const k of ['r', 'gradR'] as const) expect(Math.abs(x[k]!), `${k} = ${x[k]}`).toBeLessThanOrEqual(1);
    expect(a.gradR).toBe(1);
    expect(b.gradR).toBe(-1);
  });
});
