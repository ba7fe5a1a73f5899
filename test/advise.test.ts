/**
 * Advisor: advised configs stay inside the target band per the engine at every layer (Pre-LN and
 * Post-LN, several depths); closed forms checked against first principles / DeepScaleLM's formula;
 * unsatisfiable targets and bad input. Expected values are computed here from the formulas quoted
 * in each test, not taken from the advisor.
 */
import { describe, expect, it } from 'vitest';
import nerdamer from 'nerdamer-prime';
import { resolveConfig } from '../src/config.js';
import { predictResolved } from '../src/engine.js';
import { advise, advisedForHarness, checkBands, limits, parseTarget, sensitivity, solvedFormulas } from '../src/advise.js';
import { InputError } from '../src/errors.js';

const arch = (o: Record<string, unknown>) => resolveConfig({ dModel: 256, heads: 4, dFF: 1024, seqLen: 64, dropout: 0.1, input: { mean: 0, var: 1, r: 0.2 }, ...o });

describe('advised configs meet the default band (engine check, every layer)', () => {
  const cases: [string, Record<string, unknown>][] = [
    ['Pre-LN ReLU 6 layers', { layers: 6, norm: 'pre', activation: 'relu' }],
    ['Pre-LN ReLU 96 layers', { layers: 96, norm: 'pre', activation: 'relu' }],
    ['Pre-LN GeLU 300 layers', { layers: 300, norm: 'pre', activation: 'gelu' }],
    ['Post-LN GeLU 12 layers', { layers: 12, norm: 'post', activation: 'gelu' }],
    ['Post-LN ReLU 96 layers', { layers: 96, norm: 'post', activation: 'relu' }],
    ['Pre-RMSNorm SwiGLU causal 24 layers, final norm', { layers: 24, norm: 'pre', normKind: 'rmsnorm', activation: 'swiglu', causal: true, finalNorm: true, dropout: 0, seqLen: 32 }],
  ];
  for (const [name, o] of cases) {
    it(name, () => {
      const cfg = arch(o);
      const a = advise(cfg, { noFormulas: true });
      // architecture kept
      for (const k of ['layers', 'dModel', 'heads', 'dFF', 'seqLen', 'norm', 'normKind', 'activation', 'dropout', 'causal', 'finalNorm', 'eps'] as const) expect(a.config[k]).toEqual(cfg[k]);
      expect(a.config.input).toEqual(cfg.input);
      // re-run the engine independently of the advisor's own check
      const p = predictResolved(a.config);
      const top = p.layers[cfg.layers].gradVar!;
      for (const l of p.layers) {
        expect(l.var).not.toBeNull();
        expect(l.var!).toBeGreaterThanOrEqual(0.9);
        expect(l.var!).toBeLessThanOrEqual(1.1);
        expect(l.gradVar! / top).toBeGreaterThanOrEqual(0.5);
        expect(l.gradVar! / top).toBeLessThanOrEqual(2);
      }
      expect(a.check.ok).toBe(true);
      expect(a.unsatisfiable).toEqual([]);
    });
  }
});

describe('advisor closed forms', () => {
  it('Pre-LN ReLU: σ_2 = (1−p)·√(2/dFF) (E[relu(z)²] = 1/2, two inverted dropouts) and λ² + β² = 1, β² = k/N', () => {
    const cfg = arch({ layers: 8, norm: 'pre', activation: 'relu' });
    const a = advise(cfg, { noFormulas: true, target: { ...parseTarget(undefined), k: 1 } });
    const p = 0.1;
    // the norm output has variance v/(v+eps) with v = 1 − 1/d: relative effect 1e-5·d/(d−1) ≈ 1e-5 on σ²
    for (const s of a.config.init.ffn2) expect(Math.abs(s / ((1 - p) * Math.sqrt(2 / 1024)) - 1)).toBeLessThan(2e-5);
    for (let l = 0; l < 8; l++) {
      expect(a.config.branch[l] ** 2).toBeCloseTo(1 / 8, 12);
      expect(a.config.skip[l] ** 2 + a.config.branch[l] ** 2).toBeCloseTo(1, 4);
    }
    for (const s of a.config.init.qk) expect(s).toBeCloseTo(1 / 16, 12); // σ² = 1/d
  });

  it('separate rates: Pre-LN ReLU σ_2 = √((1−p)(1−p_h)·2/dFF) with p = dropout after W2, p_h = actDropout (attnDropout does not enter)', () => {
    for (const [p, ph, pa] of [[0.1, 0.3, 0], [0, 0.25, 0.1], [0.2, 0, 0.2]]) {
      const cfg = arch({ layers: 6, norm: 'pre', activation: 'relu', dropout: p, actDropout: ph, attnDropout: pa });
      const a = advise(cfg, { noFormulas: true, target: { ...parseTarget(undefined), k: 1 } });
      for (const s of a.config.init.ffn2) expect(Math.abs(s / Math.sqrt((1 - p) * (1 - ph) * 2 / 1024) - 1)).toBeLessThan(2e-5);
      expect(a.config).toMatchObject({ dropout: p, attnDropout: pa, actDropout: ph }); // the rates are architecture: kept
      expect(advise(cfg, { noFormulas: true }).check.ok).toBe(true); // k solved: the default band is met
    }
  });

  it('sensitivity: one row "dropout" moving all places when the rates are equal; one row per non-zero rate when they differ', () => {
    const one = sensitivity(arch({ layers: 4, norm: 'pre' })).filter((r) => /ropout/.test(r.parameter));
    expect([...new Set(one.map((r) => r.parameter))]).toEqual(['dropout']);
    // the equal-rate row is the derivative along dropout = attnDropout = actDropout (the old single rate)
    const sameExplicit = sensitivity(arch({ layers: 4, norm: 'pre', attnDropout: 0.1, actDropout: 0.1 })).filter((r) => /ropout/.test(r.parameter));
    expect(sameExplicit).toEqual(one);
    const sep = sensitivity(arch({ layers: 4, norm: 'pre', dropout: 0.1, attnDropout: 0, actDropout: 0.3 })).filter((r) => /ropout/.test(r.parameter));
    expect([...new Set(sep.map((r) => r.parameter))]).toEqual(['dropout', 'actDropout']);
    // inverted dropout raises the FFN branch variance (1/(1 − p_h)), so ∂ ln var_N/∂ ln actDropout > 0
    const e = sep.find((r) => r.parameter === 'actDropout' && r.metric === 'var at N')!;
    expect(e.elasticity!).toBeGreaterThan(0);
  });

  it('Pre-LN with input variance 2: layer 1 solves λ⁴σ² + λ²β² + β² = 1', () => {
    const cfg = arch({ layers: 10, norm: 'pre', input: { mean: 0, var: 2, r: 0.2 } });
    const a = advise(cfg, { noFormulas: true, target: { ...parseTarget(undefined), k: 1 } });
    const l2 = a.config.skip[0] ** 2, b2 = a.config.branch[0] ** 2;
    expect(l2 * l2 * 2 + l2 * b2 + b2).toBeCloseTo(1, 10);
    const p = predictResolved(a.config);
    for (const l of p.layers.slice(1)) expect(Math.abs(l.var! - 1)).toBeLessThan(1e-3);
    // layer 0 is the input: reported as not reachable by init
    expect(a.unsatisfiable.some((u) => u.layer === 0 && u.moment === 'var' && u.closest === 2)).toBe(true);
  });

  it('nerdamer solution for σ_v·σ_o reduces to DeepScaleLM √((1−p)/r)/d at A = r (large L)', () => {
    const f = solvedFormulas();
    for (const [d, p, r] of [[512, 0.1, 0.3], [1024, 0, 0.05], [64, 0.2, 0.9]]) {
      const got = Number(nerdamer(f.attention.solution).evaluate({ A: r, d, p }).text('decimals'));
      expect(got / (Math.sqrt((1 - p) / r) / d)).toBeCloseTo(1, 10);
      const lam2 = Number(nerdamer(f.residual.solution).evaluate({ s: 1, b: 0.3 }).text('decimals'));
      expect(lam2).toBeCloseTo(1 - 0.09, 10); // σ² = 1 ⇒ λ² = 1 − β²
      const w = Number(nerdamer(f.ffn.solution).evaluate({ M: 0.5, f: 2048, p, ph: p }).text('decimals'));
      expect(w).toBeCloseTo((1 - p) * Math.sqrt(2 / 2048), 12); // one rate: (1−p)√(2/dFF)
      const w2 = Number(nerdamer(f.ffn.solution).evaluate({ M: 0.5, f: 2048, p, ph: 0.3 }).text('decimals'));
      expect(w2).toBeCloseTo(Math.sqrt((1 - p) * 0.7 * 2 / 2048), 12); // activation dropout p_h = 0.3
    }
  });
});

describe('targets', () => {
  it('an unreachable fixed k says which layer and moment fail and the closest value', () => {
    const cfg = arch({ layers: 24, norm: 'pre' });
    const a = advise(cfg, { noFormulas: true, target: { var: [0.9, 1.1], gradVar: [0.9, 1.1], k: 20 } });
    expect(a.check.ok).toBe(false);
    const u = a.unsatisfiable.find((x) => x.moment === 'gradVar')!;
    expect(u).toBeDefined();
    expect(u.closest).not.toBeNull();
    expect(u.closest! < 0.9 || u.closest! > 1.1).toBe(true);
  });

  it('a tighter gradient band lowers k and is met', () => {
    const cfg = arch({ layers: 48, norm: 'pre' });
    const loose = advise(cfg, { noFormulas: true });
    const tight = advise(cfg, { noFormulas: true, target: { var: [0.9, 1.1], gradVar: [0.8, 1.25] } });
    expect(tight.k!).toBeLessThan(loose.k!);
    expect(checkBands(predictResolved(tight.config), tight.target).ok).toBe(true);
  });

  it('bad targets are rejected naming the field', () => {
    expect(() => parseTarget({ var: [1.1, 0.9] })).toThrow(/--target.var: high must exceed low/);
    expect(() => parseTarget({ gradVar: [1.5, 2] })).toThrow(/--target.gradVar: must contain 1/);
    expect(() => parseTarget({ foo: 1 })).toThrow(InputError);
    expect(() => parseTarget({ k: -1 })).toThrow(/--target.k/);
  });

  it('harness entry returns a config and the band it promises', () => {
    const h = advisedForHarness(arch({ layers: 4, norm: 'post' }));
    expect(h.check.ok).toBe(true);
    expect(h.target.var).toEqual([0.9, 1.1]);
    expect(h.config.layers).toBe(4);
  });
});

describe('limits and sensitivity (closed-form cases: branch β = 0, so var_l = λ^{4l}·var_0)', () => {
  const base = { layers: 4, norm: 'pre', dropout: 0, residual: { skip: 1.05, branch: 0 } };
  it('forward limit: λ^{4N} ≤ 10 ⇒ N ≤ ln 10/(4 ln 1.05) = 11.8', () => {
    const r = limits(arch(base), { maxVar: 10, gradBand: [1e-9, 1e9], maxLayers: 64 });
    expect(r.forwardLimit).toBe(Math.floor(Math.log(10) / (4 * Math.log(1.05))));
    expect(r.maxDepth).toBe(11);
  });
  it('gradient limit: g_0/g_N = λ^{4N} ≤ 2 ⇒ N ≤ ln 2/(4 ln 1.05) = 3.55', () => {
    const r = limits(arch(base), { maxVar: 1e9, gradBand: [0.5, 2], maxLayers: 64 });
    expect(r.gradientLimit).toBe(Math.floor(Math.log(2) / (4 * Math.log(1.05))));
    expect(r.maxDepth).toBe(3);
  });
  it('per-layer arrays without a scheme are rejected naming the field', () => {
    const cfg = arch({ layers: 2, residual: { skip: [1, 0.9] } });
    expect(() => limits(cfg, { maxVar: 10, gradBand: [0.5, 2] })).toThrow(/residual.skip/);
  });
  it('d ln(var_N)/d ln λ = 4N when β = 0', () => {
    const rows = sensitivity(arch({ ...base, layers: 5 }));
    const e = rows.find((r) => r.parameter === 'residual.skip' && r.metric === 'var at N')!;
    expect(e.elasticity!).toBeCloseTo(20, 4); // central difference of an exact power law: error O(h²) ≈ 1e-6
    const g = rows.find((r) => r.parameter === 'residual.skip' && r.metric === 'gradVar 0 / gradVar N')!;
    expect(g.elasticity!).toBeCloseTo(20, 2);
  });
});
