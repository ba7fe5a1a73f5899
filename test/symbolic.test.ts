/**
 * The formula strings are the single source of each block: they are compiled to JS for the
 * engine, printed, rendered to LaTeX and differentiated. These tests check that
 *  1. the catalogue's own expression compiler agrees with mathjs's independent evaluator on every
 *     expression of the catalogue (random points, 1e-10 relative: both are double-precision
 *     evaluations of the same tree, so only rounding may differ);
 *  2. where a printed formula claims to be the one in use (its `when` condition holds), the
 *     block's numeric forward/backward equals the printed formula evaluated by mathjs;
 *  3. LaTeX and derivatives are produced for every block.
 */
import { describe, expect, it } from 'vitest';
import { evaluate, parse } from 'mathjs';
import { CATALOGUE } from '../formulas/index.js';
import { compile } from '../formulas/_core.js';
import { formulas, differentiate } from '../src/symbolic.js';
import { component } from '../src/component.js';

function symbolsOf(expr: string): string[] {
  const s = new Set<string>();
  parse(expr).traverse((n: any) => { if (n.type === 'SymbolNode' && !['pi', 'e'].includes(n.name) && !(n.name in Math) && !['sqrt', 'exp', 'erf', 'acos', 'asin', 'log'].includes(n.name)) s.add(n.name); });
  return [...s];
}

const isExpr = (e: string) => !/[[\]]|\bsum_|\bmean_|\bE\[/.test(e);

describe('compiled expressions agree with mathjs', () => {
  for (const [name, b] of Object.entries(CATALOGUE)) {
    const all = [...b.doc.forward.mean, ...b.doc.forward.var, ...b.doc.forward.r, ...b.doc.backward.gradVar, ...b.doc.backward.gradR].filter((f) => isExpr(f.expr));
    it(`${name}: ${all.length} expressions`, () => {
      let seed = 7;
      const rnd = () => { seed = (seed * 16807) % 2147483647; return seed / 2147483647; };
      for (const f of all) {
        const vars = symbolsOf(f.expr);
        const fn = compile(f.expr, vars);
        for (let k = 0; k < 5; k++) {
          // points inside every domain used here: r in (0, 0.9), p in (0, 0.5), sizes >= 4, the rest in (0.1, 2)
          const scope: Record<string, number> = {};
          for (const v of vars) scope[v] = ['r', 'rg', 'rF', 'rgF', 'rout'].includes(v) ? 0.9 * rnd() : ['p', 'pa'].includes(v) ? 0.5 * rnd() : ['d', 'din', 'dout', 'n', 'f', 'L', 'h'].includes(v) ? 4 + Math.floor(60 * rnd()) : 0.1 + 1.9 * rnd();
          const a = fn(...vars.map((v) => scope[v]));
          const ref = evaluate(f.expr, scope) as number;
          // overflow (e.g. e^{σ_s²} at random large scores) must overflow in both evaluators
          if (!Number.isFinite(ref)) { expect(Number.isFinite(a)).toBe(false); continue; }
          expect(Math.abs(a - ref)).toBeLessThanOrEqual(1e-10 * Math.max(1, Math.abs(ref)));
        }
      }
    });
  }
});

describe('printed formulas are the ones the blocks compute', () => {
  const at = (expr: string, scope: Record<string, number>) => evaluate(expr, scope) as number;
  const close = (a: number, b: number) => expect(Math.abs(a - b)).toBeLessThanOrEqual(1e-9 * Math.max(1, Math.abs(b)));
  const fwd = (block: string) => CATALOGUE[block].doc.forward;
  const bwd = (block: string) => CATALOGUE[block].doc.backward;

  it('linear (any mean, with bias)', () => {
    const s = { mu: 0.3, s: 1.7, r: 0.4, g: 2, rg: 0.3, din: 64, dout: 32, w: 0.11, b: 0.2 };
    const a = component({ block: 'linear', params: { dIn: 64, dOut: 32, std: 0.11, biasStd: 0.2 }, input: { mean: 0.3, var: 1.7, r: 0.4 }, grad: { var: 2, r: 0.3 } });
    close(a.var, at(fwd('linear').var[0].expr, s)); close(a.r, at(fwd('linear').r[0].expr, s));
    close(a.gradVar, at(bwd('linear').gradVar[0].expr, s)); close(a.gradR, at(bwd('linear').gradR[0].expr, s));
  });
  it('dropout, layernorm, rmsnorm', () => {
    for (const [block, params, extra] of [['dropout', { p: 0.3 }, { p: 0.3 }], ['layernorm', { d: 48, eps: 1e-5 }, { d: 48, eps: 1e-5 }], ['rmsnorm', { d: 48, eps: 1e-5 }, { d: 48, eps: 1e-5 }]] as const) {
      const s = { mu: 0.4, s: 2.5, r: 0.35, g: 1.5, rg: 0.2, ...extra };
      const a = component({ block, params, input: { mean: 0.4, var: 2.5, r: 0.35 }, grad: { var: 1.5, r: 0.2 } });
      close(a.mean, at(fwd(block).mean[0].expr, s)); close(a.var, at(fwd(block).var[0].expr, s)); close(a.r, at(fwd(block).r[0].expr, s));
      close(a.gradVar, at(bwd(block).gradVar[0].expr, s)); close(a.gradR, at(bwd(block).gradR[0].expr, s));
    }
  });
  it('relu and gelu at zero mean (their closed forms)', () => {
    for (const block of ['relu', 'gelu']) {
      const s = { mu: 0, s: 1.3, r: 0.45, g: 2, rg: 0.5 };
      const a = component({ block, params: {}, input: { mean: 0, var: 1.3, r: 0.45 }, grad: { var: 2, r: 0.5 } });
      close(a.mean, at(fwd(block).mean[0].expr, s)); close(a.var, at(fwd(block).var[0].expr, s)); close(a.r, at(fwd(block).r[0].expr, s));
      close(a.gradVar, at(bwd(block).gradVar[0].expr, s));
      expect(a.method).toBe('closed-form');
    }
  });
  it('ReLU FFN at zero mean (composition equals the printed closed form; p after W2, ph after the activation)', () => {
    for (const [p, ph, extra] of [[0.1, 0.1, {}], [0.1, 0.1, { actDropout: 0.1 }], [0.2, 0, { actDropout: 0 }], [0, 0.35, { actDropout: 0.35 }]] as const) {
      const s = { mu: 0, s: 1, r: 0.3, g: 1, rg: 0.2, d: 64, f: 256, w1: 0.1, w2: 0.07, p, ph };
      const a = component({ block: 'ffn', params: { dModel: 64, dFF: 256, activation: 'relu', std1: 0.1, std2: 0.07, dropout: p, ...extra }, input: { mean: 0, var: 1, r: 0.3 }, grad: { var: 1, r: 0.2 } });
      close(a.var, at(fwd('ffn').var[0].expr, s)); close(a.r, at(fwd('ffn').r[0].expr, s));
      close(a.gradVar, at(bwd('ffn').gradVar[0].expr, s)); close(a.gradR, at(bwd('ffn').gradR[0].expr, s));
    }
  });
});

describe('rendering and differentiation', () => {
  it('every block renders text and LaTeX', () => {
    const list = formulas();
    expect(list.map((e) => e.block).sort()).toEqual(Object.keys(CATALOGUE).sort());
    for (const e of list) for (const f of e.formulas) { expect(f.simplified.length).toBeGreaterThan(0); expect(f.tex.length).toBeGreaterThan(0); }
  });
  it('derivative of the ReLU variance in s is (π−1)/(2π)', () => {
    const d = differentiate(CATALOGUE.relu.doc.forward.var[0].expr, 's');
    expect(evaluate(d.replace(/\bpi\b/g, 'pi'), {}) as number).toBeCloseTo((Math.PI - 1) / (2 * Math.PI), 12);
  });
});
