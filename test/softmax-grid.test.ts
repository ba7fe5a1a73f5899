/**
 * The softmax block reads E[p²], E[p³] and E[(Σp²)²] from a grid in ln v (spacing 1/8, cubic
 * interpolation) over exact Laplace-transform integrals. This checks the interpolation against the
 * same integrals evaluated directly at off-grid variances. Tolerance 1e-4 relative: the cubic
 * interpolation error of these smooth functions of ln v is O(h⁴) ≈ 1e-5 at h = 1/8 (the largest
 * measured is 3.1e-5, at n = 512, v ≈ 2.7); the quadrature itself is shared by both sides, so this
 * test bounds only the interpolation (its accuracy against sampling is in formulas-mc.test.ts).
 */
import { describe, expect, it } from 'vitest';
import { softmaxPowers, softmaxPowersDirect } from '../formulas/softmax.js';

describe('softmax grid interpolation', () => {
  for (const n of [2, 8, 64, 512]) {
    it(`n = ${n}`, () => {
      for (const v of [1.3e-5, 0.011, 0.3, 1, 2.7, 4.1, 16.3, 55, 101, 900]) {
        const a = softmaxPowers(n, v), b = softmaxPowersDirect(n, v);
        for (const k of ['e2', 'e3', 'q4'] as const) expect(Math.abs(a[k] / b[k] - 1)).toBeLessThan(1e-4);
      }
    });
  }
});
