/**
 * verify/compare.ts heavyTailCheck: the gradVar misses where the engine predicts a heavy tail
 * across models are judged again on the log scale (the seeds' geometric mean against the predicted
 * typical model, within max(ln 1.1, 2·std(ln)/√K)). Synthetic seeds drawn here (seeded, K = 16,
 * lognormal with ln-std 1.5), so every expectation below follows from how they were drawn, not from
 * the code under test: an entry whose predicted expectation is far above the seeds' mean (a miss)
 * but whose median is the predicted typical value (log scale: within), one whose median is 10× below
 * the typical value (ln error ≈ 2.3 against a tolerance ≈ 0.75: outside), a miss predicted
 * light-tailed (logVar < 1: never re-judged), and an entry within the plain rule (left alone).
 */
import { describe, expect, it } from 'vitest';
import { compareLayer, heavyTailCheck, logMeanStd, meanStd, type Measured } from '../verify/compare.js';
import { Rng } from '../verify/rng.js';

const K = 16, s = 1.5, E = Math.exp((s * s) / 2); // E: the expectation of e^{sZ} (median 1)
function row(layer: number, median: number, predE: number, rng: Rng) {
  const xs = Array.from({ length: K }, () => median * Math.exp(s * rng.normal()));
  const m: Measured = { mean: null, var: null, r: null, gradVar: meanStd(xs), gradR: null };
  const rep = compareLayer({ mean: null, var: null, r: null, gradVar: predE, gradR: null }, m, layer);
  rep.gradLog = logMeanStd(xs);
  return rep;
}

describe('heavyTailCheck: gradVar misses of a heavy-tailed statistic on the log scale', () => {
  it('re-judges only heavy-tailed misses, and the log-scale rule can fail', () => {
    const rng = new Rng(21);
    const a = row(0, 1, 40 * E, rng), b = row(1, 0.1, 40 * E, rng), light = row(2, 1, 40 * E, rng), fine = row(3, 1, E, rng);
    for (const r of [a, b, light]) expect(r.relErr.gradVar! > r.tolerance.gradVar!).toBe(true);
    expect(fine.withinTolerance).toBe(true);
    const spread = (l: number) => (l === 2 ? { logVar: 0.5, typical: 1 } : { logVar: s * s, typical: 1 });
    const out = heavyTailCheck([a, b, light, fine], spread, K);
    expect(out).toEqual({ misses: 2, within: 1 });
    expect(a.gradLogCheck?.within).toBe(true);
    expect(b.gradLogCheck?.within).toBe(false);
    expect(b.gradLogCheck!.logErr).toBeGreaterThan(b.gradLogCheck!.logTol);
    expect(light.gradLogCheck).toBeUndefined();
    expect(fine.gradLogCheck).toBeUndefined();
    // the plain per-entry verdict stays as it was
    expect(a.withinTolerance).toBe(false);
  });
});
