/**
 * Issue 5: config v1's separate dropout rates — `attnDropout` on the attention probabilities,
 * `actDropout` after the FFN activation (SwiGLU: after the product), `dropout` after the attention
 * output and after W2 — each defaulting to `dropout`.
 *
 * 1. Equivalence: a config with attnDropout = actDropout = dropout predicts exactly (toEqual, no
 *    tolerance) what the same config without them predicts, model and blocks alike; the trace's
 *    stage parameters are unchanged too.
 * 2. Placement: the engine plan puts each rate where config v1 says, and the SwiGLU block's split
 *    (1−p)(1−p_h) (derived in formulas/swiglu.ts) holds exactly against its no-dropout values.
 *    (The blocks' separate-rate formulas are also checked against Monte-Carlo in formulas-mc.test.ts.)
 * 3. Theory vs measurement: the verification harness (verify/, TF.js on wasm, an implementation of
 *    config v1 independent of the engine) builds small models with three different rates
 *    (dropout 0.2, attnDropout 0, actDropout 0.3; d = 64, 3 layers, L = 32, λ = 0.5 so that each
 *    branch weighs on the stream; Post-LN GeLU through the ffn stages, Pre-RMSNorm SwiGLU through the
 *    swiglu block), 4 seeds × batch 4. (At L = 16 the engine's finite-L error alone — dropout 0 —
 *    already leaves this tolerance in r and gradR, so L = 32.) Tolerance per point = the harness's own rule
 *    (verify/compare.ts TOLERANCE_RULE): var max(5 %, 2 × seed-to-seed std/|pred|) relative, gradVar
 *    max(10 %, 2 × std/|pred|), r and gradR max(0.02, 2 × std) absolute, mean max(0.02·√var, 2 × std).
 *    Controls: the same measurements against the predictions of the one-rate config (0.2 at all four
 *    places, what the config meant before the two fields existed) and of the rates swapped
 *    (attnDropout 0.3, actDropout 0) must leave that tolerance somewhere — the test can tell the
 *    places apart.
 */
import { describe, expect, it } from 'vitest';
import { component, predict, resolveConfig, buildPlan, predictResolved } from '../src/index.js';
import { QUANTITIES, compareLayer } from '../verify/compare.js';
import { verifyConfig } from '../verify/run.js';

const ARCHS: [string, Record<string, unknown>][] = [
  ['Pre-LN relu', { activation: 'relu' }],
  ['Post-LN gelu', { norm: 'post', activation: 'gelu' }],
  ['Pre-LN gelu_tanh causal finalNorm', { activation: 'gelu_tanh', causal: true, finalNorm: true }],
  ['Pre-RMSNorm silu', { normKind: 'rmsnorm', activation: 'silu' }],
  ['Pre-RMSNorm swiglu causal', { normKind: 'rmsnorm', activation: 'swiglu', causal: true }],
  ['Post-LN swiglu', { norm: 'post', activation: 'swiglu', input: { mean: 0.2, var: 1.5, r: 0.3 } }],
];
const small = { layers: 5, dModel: 64, heads: 4, dFF: 256, seqLen: 16, input: { mean: 0, var: 1, r: 0.2 } };

describe('attnDropout = actDropout = dropout predicts exactly as dropout alone', () => {
  for (const [name, arch] of ARCHS) {
    for (const p of [0, 0.1, 0.35]) {
      it(`${name}, p = ${p}`, () => {
        const old = { ...small, ...arch, dropout: p };
        const same = { ...old, attnDropout: p, actDropout: p };
        expect(predict(same)).toEqual(predict(old));
        // the trace (stage labels, parameters, moments; block caches left out: they hold closures)
        const tr = (c: object) => JSON.stringify(predictResolved(resolveConfig(c), { trace: true }), (k, v) => (k === 'cache' ? undefined : v));
        expect(tr(same)).toBe(tr(old));
      });
    }
  }
  it('blocks: ffn and swiglu with actDropout = dropout equal the blocks without it', () => {
    const x = { mean: 0.1, var: 1.3, r: 0.4 }, g = { var: 2, r: 0.3 };
    for (const act of ['relu', 'gelu', 'silu']) {
      const ffn = { dModel: 64, dFF: 256, activation: act, std1: 0.12, std2: 0.06, dropout: 0.25 };
      expect(component({ block: 'ffn', params: { ...ffn, actDropout: 0.25 }, input: x, grad: g })).toEqual(component({ block: 'ffn', params: ffn, input: x, grad: g }));
    }
    const sw = { dModel: 64, dFF: 256, std1: 0.12, std3: 0.1, std2: 0.06, dropout: 0.25 };
    expect(component({ block: 'swiglu', params: { ...sw, actDropout: 0.25 }, input: x, grad: g })).toEqual(component({ block: 'swiglu', params: sw, input: x, grad: g }));
  });
});

describe('each rate at its place', () => {
  it('the engine plan: attention probabilities attnDropout, after W_o and W2 dropout, after the activation actDropout', () => {
    for (const activation of ['relu', 'swiglu'] as const) {
      const cfg = resolveConfig({ ...small, layers: 2, activation, dropout: 0.2, attnDropout: 0.05, actDropout: 0.3 });
      const plan = buildPlan(cfg);
      for (const sl of plan.sublayers) {
        const labels = sl.stages.map((s) => s.label);
        const params = sl.stages.map((s) => s.params as Record<string, unknown>);
        if (sl.kind === 'attn') {
          expect(labels).toEqual(['norm', 'attention', 'dropout']);
          expect(params[1].attnDropout).toBe(0.05);
          expect(params[2].p).toBe(0.2);
        } else if (activation === 'relu') {
          expect(labels).toEqual(['norm', 'W1', 'act', 'dropout', 'W2', 'dropout']);
          expect([params[3].p, params[5].p]).toEqual([0.3, 0.2]);
        } else {
          expect(labels).toEqual(['norm', 'swiglu']);
          expect([params[1].dropout, params[1].actDropout]).toEqual([0.2, 0.3]);
        }
      }
      // a zero rate drops its stage; the others stay
      const z = buildPlan(resolveConfig({ ...small, layers: 1, activation, dropout: 0, attnDropout: 0.1, actDropout: 0.3 }));
      expect(z.sublayers[0].stages.map((s) => s.label)).toEqual(['norm', 'attention']);
      if (activation === 'relu') expect(z.sublayers[1].stages.map((s) => s.label)).toEqual(['norm', 'W1', 'act', 'dropout', 'W2']);
    }
  });

  it('SwiGLU: var and gradVar scale by 1/((1−p)(1−p_h)), r and gradR by (1−p)(1−p_h) (derived in formulas/swiglu.ts)', () => {
    const x = { mean: 0.1, var: 1.3, r: 0.4 }, g = { var: 2, r: 0.3 };
    const sw = { dModel: 64, dFF: 256, std1: 0.12, std3: 0.1, std2: 0.06 };
    const base = component({ block: 'swiglu', params: sw, input: x, grad: g });
    for (const [p, ph] of [[0.2, 0], [0, 0.3], [0.1, 0.5], [0.3, 0.3]]) {
      const a = component({ block: 'swiglu', params: { ...sw, dropout: p, actDropout: ph }, input: x, grad: g });
      const k = (1 - p) * (1 - ph);
      expect(a.var! * k).toBeCloseTo(base.var!, 12);
      expect(a.r! / k).toBeCloseTo(base.r!, 12);
      expect(a.gradVar! * k).toBeCloseTo(base.gradVar!, 12);
      expect(a.gradR! / k).toBeCloseTo(base.gradR!, 12);
    }
  });

  it('ffn = the chain W1 → act → dropout(actDropout) → W2 → dropout(dropout), output dropout alone = the dropout row after the block', () => {
    const x = { mean: 0, var: 1, r: 0.3 }, g = { var: 1, r: 0.2 };
    const ffn = { dModel: 64, dFF: 256, activation: 'gelu', std1: 0.12, std2: 0.06 };
    const inner = component({ block: 'ffn', params: ffn, input: x, grad: g });
    const outOnly = component({ block: 'ffn', params: { ...ffn, dropout: 0.4, actDropout: 0 }, input: x, grad: g });
    // the output is zero-mean, so the dropout row gives var/(1−p) and r·(1−p)
    expect(outOnly.var!).toBeCloseTo(inner.var! / 0.6, 12);
    expect(outOnly.r!).toBeCloseTo(inner.r! * 0.6, 12);
  });
});

// ---------------------------------------------------------------- the harness
const init = { qk: 0.125, v: 0.125, o: 0.125, ffn1: 0.125, ffn2: 0.0625, ffn3: 0.125 };
const measuredBase = { layers: 3, dModel: 64, heads: 4, dFF: 256, seqLen: 32, residual: { skip: 0.5, branch: 1 }, init, input: { mean: 0, var: 1, r: 0.2 } };
const RATES = { dropout: 0.2, attnDropout: 0, actDropout: 0.3 };
const MEASURED: [string, Record<string, unknown>][] = [
  ['Post-LN GeLU', { ...measuredBase, norm: 'post', activation: 'gelu' }],
  ['Pre-RMSNorm SwiGLU', { ...measuredBase, normKind: 'rmsnorm', activation: 'swiglu' }],
];

describe('theory vs measurement with three different rates (harness, wasm, 4 seeds)', () => {
  for (const [name, arch] of MEASURED) {
    it(`${name}: dropout 0.2, attnDropout 0, actDropout 0.3`, async () => {
      const cfg = resolveConfig({ ...arch, ...RATES });
      const m = await verifyConfig(cfg, { backend: 'wasm', seeds: 4, batch: 4, workers: 2 });
      expect(m.seeds).toBe(4);
      const outside = (pred: ReturnType<typeof predictResolved>) => m.layers.flatMap((l) => {
        const rep = compareLayer(pred.layers[l.layer], l.measured, l.layer);
        return QUANTITIES.filter((q) => rep.relErr[q] !== null && rep.relErr[q]! > rep.tolerance[q]!)
          .map((q) => `${q}@${l.layer}: pred ${rep.predicted[q]!.toPrecision(4)}, measured ${l.measured[q]![0].toPrecision(4)} ± ${l.measured[q]![1].toPrecision(2)} (err ${rep.relErr[q]!.toPrecision(3)} > tol ${rep.tolerance[q]!.toPrecision(3)})`);
      });
      // the theory of this config: every point within tolerance
      expect(outside(predictResolved(cfg)), m.summary.verdict).toEqual([]);
      // controls: one rate everywhere (the meaning before attnDropout/actDropout), and the two new rates swapped
      const oneRate = outside(predictResolved(resolveConfig({ ...arch, dropout: 0.2 })));
      const swapped = outside(predictResolved(resolveConfig({ ...arch, dropout: 0.2, attnDropout: 0.3, actDropout: 0 })));
      console.log(`${name}: one-rate control leaves tolerance at ${oneRate.length} point(s): ${oneRate.join('; ')}\nswapped control at ${swapped.length}: ${swapped.join('; ')}`);
      expect(oneRate.length).toBeGreaterThan(0);
      expect(swapped.length).toBeGreaterThan(0);
    }, 240_000);
  }
});
