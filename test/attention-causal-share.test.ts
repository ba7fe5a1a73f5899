/**
 * formulas/causal-share.ts: two causal rows of n ≤ n′ keys sharing the shorter row's keys. The
 * Laplace quadrature of A(n, n′) = Σ_{j≤n} E[P_ij P_i′j] and of the K path's overlap
 * D(n, n′) = Σ_{j≤n} E[P_ij P_i′j(1 − P_ij − P_i′j + Σ_a P_ia P_i′a)] against a float64 Monte-Carlo of
 * Gaussian logits (iid over keys, variance v, the shared keys' pairs correlated at ρ; nothing here
 * but the tested function comes from formulas/), and the factor the K path takes,
 * F_D = n′D(n, n′)/(nD(n, n)) — 1 when the longer row's share of weight on the shared keys is taken
 * independent of their weights — well above 1 where the MC says so.
 * Numbers when written (v = 5, ρ = 0.5, 40,000 draws, seed 77; quadrature vs MC ± se):
 *   A(4, 64) 0.03018 vs 0.03054 ± 0.00036, D(4, 64) 0.00648 vs 0.00651 ± 0.00005,
 *   A(16, 64) 0.04736 vs 0.04777 ± 0.00040, D(16, 64) 0.01798 vs 0.01794 ± 0.00008,
 *   A(16, 16) 0.16151 vs 0.16383 ± 0.00073 (3.2 se; two further runs of 200,000 draws: 0.16123 ±
 *   0.00032, 0.16140 ± 0.00032, and the quadrature at steps 0.25 and 0.5/σ 0.16151),
 *   D(16, 16) 0.05421 vs 0.05426 ± 0.00015, A(4, 4) 0.39629 vs 0.39694 ± 0.00119, D(4, 4) 0.06705 vs
 *   0.06733 ± 0.00027; F_D(4, 64) 1.546 (MC 1.547)
 * (the printed values are checked to k = 4 standard errors, fixed before the run).
 */
import { describe, expect, it } from 'vitest';
import { causalPairOverlaps, causalShareF } from '../formulas/causal-share.js';
import { component } from '../src/component.js';
import { Rng } from './mc/rng.js';

const v = 5, rho = 0.5, draws = 40000, K_NOISE = 4;
const pairs: [number, number][] = [[4, 64], [16, 64], [16, 16], [4, 4]];

function mc(): { A: { m: number; se: number }[]; D: { m: number; se: number }[] } {
  const rng = new Rng(77), sd = Math.sqrt(v), nMax = 64;
  const sA = pairs.map(() => [0, 0]), sD = pairs.map(() => [0, 0]);
  const x = new Float64Array(nMax), y = new Float64Array(nMax);
  for (let t = 0; t < draws; t++) {
    const z1 = rng.normals(nMax, 1), z2 = rng.normals(nMax, 1);
    for (let j = 0; j < nMax; j++) { x[j] = sd * z1[j]; y[j] = sd * (rho * z1[j] + Math.sqrt(1 - rho * rho) * z2[j]); }
    pairs.forEach(([n, n2], k) => {
      let mx = -Infinity, my = -Infinity;
      for (let j = 0; j < n; j++) mx = Math.max(mx, x[j]);
      for (let j = 0; j < n2; j++) my = Math.max(my, y[j]);
      let zx = 0, zy = 0;
      for (let j = 0; j < n; j++) zx += Math.exp(x[j] - mx);
      for (let j = 0; j < n2; j++) zy += Math.exp(y[j] - my);
      let a = 0;
      for (let j = 0; j < n; j++) a += (Math.exp(x[j] - mx) / zx) * (Math.exp(y[j] - my) / zy);
      let d = 0;
      for (let j = 0; j < n; j++) { const p = Math.exp(x[j] - mx) / zx, q = Math.exp(y[j] - my) / zy; d += p * q * (1 - p - q + a); }
      sA[k][0] += a; sA[k][1] += a * a; sD[k][0] += d; sD[k][1] += d * d;
    });
  }
  const ms = ([s, s2]: number[]) => { const m = s / draws; return { m, se: Math.sqrt(Math.max(s2 / draws - m * m, 0) / draws) }; };
  return { A: sA.map(ms), D: sD.map(ms) };
}

describe('causal rows of unequal length: the Laplace quadrature of the shared-key overlaps (causal-share.ts)', () => {
  const q = causalPairOverlaps(v, rho, pairs);
  const m = mc();
  for (let k = 0; k < pairs.length; k++) {
    it(`A and D at (n, n′) = (${pairs[k][0]}, ${pairs[k][1]}) within ${K_NOISE} se of the MC`, () => {
      const msg = `A ${q.A[k].toFixed(5)} vs ${m.A[k].m.toFixed(5)} ± ${m.A[k].se.toFixed(5)}; D ${q.D[k].toFixed(5)} vs ${m.D[k].m.toFixed(5)} ± ${m.D[k].se.toFixed(5)}`;
      console.log(`(${pairs[k][0]}, ${pairs[k][1]}) ${msg}`);
      expect(Math.abs(q.A[k] - m.A[k].m), msg).toBeLessThanOrEqual(K_NOISE * m.A[k].se);
      expect(Math.abs(q.D[k] - m.D[k].m), msg).toBeLessThanOrEqual(K_NOISE * m.D[k].se);
    });
  }
  it('F_D well above 1 where the longer row has many more keys (the independent share is low)', () => {
    const fd = (pairs[0][1] * q.D[0]) / (pairs[0][0] * q.D[3]);
    const fdMc = (pairs[0][1] * m.D[0].m) / (pairs[0][0] * m.D[3].m);
    console.log(`F_D(4, 64) ${fd.toFixed(3)} MC ${fdMc.toFixed(3)}`);
    expect(fd, `F_D(4, 64) ${fd.toFixed(3)} MC ${fdMc.toFixed(3)}`).toBeGreaterThan(1.3);
    expect(Math.abs(fd / fdMc - 1)).toBeLessThan(0.03);
  });
});

describe('saturated rows: logit variance above the tables\' top node (v = e^7)', () => {
  // the quadrature's grids grow as σ³ and its D underflowed to NaN from v = e^7.5, which read as
  // F = 1 (F_D(8, 64) at ρ = 0.5: 1.604 at v = 1000, 1.000 at 3000), and a causal attention at
  // v ~ 1e4 built tables for minutes: above e^7 the top node's value is taken (causal-share.ts LV_TOP)
  it('F above the top node is the top node\'s value, continuous with v = 1000 (< 1 %: F moves < 0.2 % between v = 100 and 1000 at ρ = 0.5)', () => {
    for (const which of [0, 1] as const) {
      const top = causalShareF(Math.exp(7), 0.5, 8, 64, 512, which), at1k = causalShareF(1000, 0.5, 8, 64, 512, which);
      for (const vv of [3000, 2e4, 1e8]) {
        const f = causalShareF(vv, 0.5, 8, 64, 512, which);
        expect(f).toBe(top);
        expect(Math.abs(f / at1k - 1), `which ${which} v ${vv}: ${f} vs ${at1k} at v = 1000`).toBeLessThan(0.01);
      }
    }
  });
  it('a causal attention component at logit variance ~1.7e4 answers with finite numbers and the saturation warning', () => {
    const a = component({ block: 'attention', params: { dModel: 64, heads: 4, stdQ: 1.5, stdK: 1.5, stdV: 0.125, stdO: 0.125, seqLen: 32, causal: true }, input: { mean: 0, var: 1, r: 0.2 } });
    for (const k of ['mean', 'var', 'r', 'gradVar', 'gradR'] as const) expect(Number.isFinite(a[k]), `${k} = ${a[k]}`).toBe(true);
    expect(a.warnings.join(' ')).toMatch(/saturated/);
  });
});
