/**
 * Symbolic side of the catalogue: simplified text and LaTeX of every formula (nerdamer-prime,
 * mathjs as a fallback), derivatives, and the closed forms in the depth N of whole models.
 */
import nerdamer from 'nerdamer-prime';
import { parse, simplify } from 'mathjs';
import { CATALOGUE, getBlock } from '../formulas/index.js';
import type { BlockDoc, FormulaText } from '../formulas/_core.js';

export interface RenderedFormula { quantity: string; when?: string; expr: string; simplified: string; tex: string; symbolic: boolean }

export interface FormulaEntry {
  block: string; title: string; source: string; method: string; domain: string;
  assumptions: string[]; symbols: Record<string, string>; notes: string[];
  formulas: RenderedFormula[];
}

const texCache = new Map<string, { simplified: string; tex: string; symbolic: boolean }>();

/** Is this an expression (vs a prose description of a quadrature)? */
function isExpression(expr: string): boolean {
  if (/[[\]]|\bsum_|\bE\[/.test(expr)) return false;
  try { parse(expr); return true; } catch { return false; }
}

export function renderExpression(expr: string): { simplified: string; tex: string; symbolic: boolean } {
  const hit = texCache.get(expr);
  if (hit) return hit;
  let r: { simplified: string; tex: string; symbolic: boolean };
  if (!isExpression(expr)) {
    r = { simplified: expr, tex: `\\text{${expr.replace(/[_^{}\\]/g, (c) => `\\${c}`)}}`, symbolic: false };
  } else {
    // text: mathjs simplify (keeps a/b readable); LaTeX: nerdamer's normal form
    let simplified = expr, tex = '';
    try { simplified = simplify(expr).toString(); } catch { /* keep as written */ }
    try { tex = nerdamer(expr).toTeX(); } catch { /* fall back below */ }
    if (!tex) tex = parse(expr).toTex();
    r = { simplified, tex, symbolic: true };
  }
  texCache.set(expr, r);
  return r;
}

function renderDoc(doc: BlockDoc): FormulaEntry {
  const out: RenderedFormula[] = [];
  const add = (q: string, list: FormulaText[]) => {
    for (const f of list) out.push({ quantity: q, when: f.when, expr: f.expr, ...renderExpression(f.expr) });
  };
  add('mean', doc.forward.mean); add('var', doc.forward.var); add('r', doc.forward.r);
  add('gradVar', doc.backward.gradVar); add('gradR', doc.backward.gradR);
  return { block: doc.name, title: doc.title, source: doc.source, method: doc.method, domain: doc.domain, assumptions: doc.assumptions, symbols: doc.symbols, notes: doc.notes ?? [], formulas: out };
}

/** The catalogue (all blocks, or one). */
export function formulas(block?: string): FormulaEntry[] {
  if (block !== undefined) return [renderDoc(getBlock(block).block.doc)];
  return Object.values(CATALOGUE).map((b) => renderDoc(b.doc));
}

/** Derivative of a formula expression with respect to one symbol (simplified text). */
export function differentiate(expr: string, symbol: string): string {
  return nerdamer.diff(expr, symbol).toString();
}

/** Human text for one entry. */
export function formulaText(e: FormulaEntry, tex = false): string {
  const lines: string[] = [];
  lines.push(`${e.block} — ${e.title}`);
  lines.push(`  source:  ${e.source}`);
  lines.push(`  method:  ${e.method}`);
  lines.push(`  domain:  ${e.domain}`);
  for (const a of e.assumptions) lines.push(`  assumes: ${a}`);
  for (const f of e.formulas) {
    const body = tex ? f.tex : f.simplified;
    lines.push(`  ${f.quantity.padEnd(7)} = ${body}${f.when ? `    [${f.when}]` : ''}`);
  }
  const syms = Object.entries(e.symbols).map(([k, v]) => `${k}: ${v}`).join('; ');
  lines.push(`  symbols: ${syms}`);
  for (const n of e.notes) lines.push(`  note:    ${n}`);
  return lines.join('\n');
}
