/**
 * The fidelity study's bookkeeping (fidelity/run.ts): error and tolerance rules, percentiles, and
 * that the committed fidelity/results.json is self-consistent (every stored verdict follows from
 * the stored measurement, noise and predictions by the documented rule). No measurement is run.
 */
import { describe, expect, it } from 'vitest';
import { existsSync, readFileSync } from 'node:fs';
import { makePoint, pct, report, rescore, summarise, type Point, type Results } from '../fidelity/run.js';

describe('fidelity rules', () => {
  it('relative error and tolerance for var (component floor 5 %, stack gradVar floor 10 %)', () => {
    const p = makePoint('attention', 'c', 'var', 2, 0.02, 16, 2.08, 4);
    expect(p.errOurs).toBeCloseTo(0.04, 12);
    expect(p.errPaper).toBeCloseTo(1, 12);
    expect(p.noise).toBeCloseTo(0.01, 12);
    expect(p.tol).toBe(0.05);
    expect(p.okOurs).toBe(true);
    expect(p.okPaper).toBe(false);
    const s = makePoint('stack pre-LN', 'c', 'gradVar', 1, 0.01, 4, 1.09, 1.2);
    expect(s.tol).toBe(0.1);
    expect(s.okOurs).toBe(true);
    const c = makePoint('attention', 'c', 'gradVar', 1, 0.01, 4, 1.09, 1.2);
    expect(c.tol).toBe(0.05);
    expect(c.okOurs).toBe(false);
  });
  it('absolute error for r with the 2×noise rule; an overflowing prediction is never within', () => {
    const p = makePoint('softmax', 'c', 'r', 0.5, 0.03, 8, 0.55, null);
    expect(p.errOurs).toBeCloseTo(0.05, 12);
    expect(p.tol).toBeCloseTo(0.06, 12);
    expect(p.okOurs).toBe(true);
    expect(p.errPaper).toBe(Infinity);
    expect(p.okPaper).toBe(false);
  });
  it('a diverged measurement is not scored', () => {
    const p = makePoint('stack post-LN', 'c', 'gradVar', null, null, 4, 1, 1);
    expect(p.errOurs).toBeNull();
    expect(p.okOurs).toBeNull();
  });
  it('nearest-rank percentiles', () => {
    const xs = Array.from({ length: 100 }, (_, i) => i + 1);
    expect(pct(xs, 0.5)).toBe(50);
    expect(pct(xs, 0.9)).toBe(90);
    expect(pct(xs, 0.99)).toBe(99);
    expect(pct([3], 0.99)).toBe(3);
  });
  it('summary and report of a synthetic result', () => {
    const pts: Point[] = [makePoint('softmax', 'a', 'var', 1, 0.01, 8, 1.01, 2), makePoint('softmax', 'b', 'var', 1, 0.01, 8, 1.5, 1)];
    const s = summarise(pts, 'softmax', 'var')!;
    expect(s.n).toBe(2);
    expect(s.withinOurs).toBe(0.5);
    expect(s.withinPaper).toBe(0.5);
    const R: Results = { meta: { date: 'd', machine: 'm', node: 'v', command: 'c', quick: true, commit: 'x', dirty: '', componentMethod: 'mc', stackMethod: 'wasm', seconds: 1 }, cases: [], points: pts };
    const md = report(R);
    expect(md).toContain('| softmax | var | 2 |');
    expect(md).toContain('QUICK GRID');
  });
});

const RESULTS = new URL('../fidelity/results.json', import.meta.url);

describe.runIf(existsSync(RESULTS))('committed fidelity/results.json', () => {
  it('every stored verdict follows from the stored numbers', () => {
    const R = JSON.parse(readFileSync(RESULTS, 'utf8')) as Results;
    const num = (v: unknown) => (v === null ? null : Number(v));
    expect(R.points.length).toBeGreaterThan(0);
    for (const p of R.points) {
      const q = makePoint(p.regime, p.case, p.q, num(p.measured), num(p.std), p.seeds, num(p.ours), num(p.paper));
      // stored numbers have 6 significant digits: a verdict may only differ right at the boundary
      const edge = (e: number | null) => e !== null && q.tol !== null && Math.abs(e - q.tol) <= 1e-4 * q.tol;
      if (!edge(q.errOurs)) expect(q.okOurs, `${p.regime} ${p.case} ${p.layer ?? ''} ${p.q}`).toBe(p.okOurs);
      if (!edge(q.errPaper)) expect(q.okPaper, `${p.regime} ${p.case} ${p.layer ?? ''} ${p.q}`).toBe(p.okPaper);
    }
  });
  it('the stored predictions are the current code’s (a theory change is rescored: node dist/fidelity/run.js --rescore)', () => {
    const R = JSON.parse(readFileSync(RESULTS, 'utf8')) as Results;
    // every 12th case (components and stacks alike), recomputed; stored numbers carry 6 significant digits
    const cases = R.cases.filter((_, i) => i % 12 === 0);
    const keys = new Set(cases.map((c) => c.regime + '|' + c.case));
    const sub: Results = { meta: R.meta, cases, points: R.points.filter((p) => keys.has(p.regime + '|' + p.case)) };
    const now = rescore(sub);
    expect(now.points.length).toBe(sub.points.length);
    for (let i = 0; i < now.points.length; i++) {
      const a = Number(sub.points[i].ours), b = now.points[i].ours as number;
      const p = sub.points[i];
      expect(Math.abs(a - b), `${p.regime} ${p.case} ${p.layer ?? ''} ${p.q}: stored ${a}, now ${b}`).toBeLessThanOrEqual(2e-5 * Math.max(Math.abs(a), Math.abs(b)) + 1e-9);
      expect(now.points[i].measured).toBe(p.measured === null ? null : Number(p.measured));
    }
  });
});
