// The harness's ln gradVar seed statistics (verify/compare.ts logMeanStd, set per entry by
// verify/run.ts aggregate): exp(mean) is the seeds' geometric mean that the engine's
// gradSpread.typical predicts, std² its gradSpread.logVar.
import { describe, expect, it } from 'vitest';
import { logMeanStd } from '../verify/compare.js';
import { aggregate } from '../verify/run.js';
import { resolveConfig } from '../src/config.js';
import { predictResolved } from '../src/engine.js';

describe('ln gradVar seed statistics', () => {
  it('is the mean and sample std of the logs', () => {
    const m = logMeanStd([Math.E, Math.E ** 3])!;
    expect(m[0]).toBeCloseTo(2, 12);
    expect(m[1]).toBeCloseTo(Math.SQRT2, 12); // sample std (K − 1) of {1, 3}
  });
  it('is null when a seed is not finite and positive', () => {
    expect(logMeanStd([1, 0])).toBeNull();
    expect(logMeanStd([1, -2])).toBeNull();
    expect(logMeanStd([1, NaN])).toBeNull();
    expect(logMeanStd([1, Infinity])).toBeNull();
    expect(logMeanStd([])).toBeNull();
  });
  it('is set per entry by aggregate from the seeds\' gradVar column', () => {
    const cfg = resolveConfig({ layers: 1, dModel: 8, heads: 2, dFF: 16, seqLen: 4 });
    const pred = predictResolved(cfg);
    const row = () => [0, 1, 0.1];
    const seed = (k: number, g0: number) => ({ seed: k, passSeconds: 0, stats: { fwd: [row(), row()], grad: [[0, g0, 0.1], [0, 1, 0]] } });
    const { layers } = aggregate(cfg, pred, [seed(1, 2), seed(2, 8)] as never);
    expect(layers[0].gradLog![0]).toBeCloseTo(Math.log(4), 12); // geometric mean of 2 and 8
    expect(layers[0].gradLog![1]).toBeCloseTo(Math.log(4) / Math.SQRT2, 12);
    expect(layers[1].gradLog![1]).toBe(0);
  });
});
