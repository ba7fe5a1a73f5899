/**
 * Embedding: sum of a token table, an optional position table and an optional token-type table,
 * each iid N(0, std²). Derived here from the token distribution: two different positions hold
 * the same token with probability q = Σ_v p_v² (uniform ids: 1/V; Zipf(a): H_V(2a)/H_V(a)²), and
 * then share the whole token vector; position vectors of two positions are independent; one
 * segment (type 0 everywhere) shares the type vector. Hence
 *   mean 0, Var = σ_t² + σ_p² + σ_y²,  Cov = q σ_t² + σ_y²,  r = Cov/Var.
 * The block reads no activation. Backward: the gradient at the embedding output is the upstream
 * gradient (reported unchanged).
 */
import { compile, defineBlock, NO_WARNINGS } from './_core.js';

export interface EmbeddingParams {
  vocab: number; std: number; posStd?: number; typeStd?: number;
  tokens?: 'uniform' | 'zipf'; zipfExponent?: number;
}

const V = ['wt', 'wp', 'wy', 'q'];
const E = { var: 'wt^2 + wp^2 + wy^2', r: '(q*wt^2 + wy^2)/(wt^2 + wp^2 + wy^2)' };
const fVar = compile(E.var, V), fR = compile(E.r, V);

const qMemo = new Map<string, number>();
/** Probability that two independent draws give the same token. */
export function collisionProbability(vocab: number, tokens: 'uniform' | 'zipf' = 'uniform', a = 1): number {
  if (tokens === 'uniform') return 1 / vocab;
  const key = `${vocab}|${a}`;
  const hit = qMemo.get(key);
  if (hit !== undefined) return hit;
  let h1 = 0, h2 = 0;
  for (let k = 1; k <= vocab; k++) { const w = Math.pow(k, -a); h1 += w; h2 += w * w; }
  const q = h2 / (h1 * h1);
  qMemo.set(key, q);
  return q;
}

export const embedding = defineBlock<EmbeddingParams, null>({
  source: true,
  params: [
    { name: 'vocab', kind: 'integer', min: 1, max: 100_000_000, doc: 'vocabulary size' },
    { name: 'std', kind: 'number', min: 0, doc: 'token table std' },
    { name: 'posStd', kind: 'number', min: 0, optional: true, default: 0, doc: 'learned position table std (0: none)' },
    { name: 'typeStd', kind: 'number', min: 0, optional: true, default: 0, doc: 'token-type table std (0: none; one segment)' },
    { name: 'tokens', kind: 'enum', values: ['uniform', 'zipf'], optional: true, default: 'uniform', doc: 'token id distribution' },
    { name: 'zipfExponent', kind: 'number', min: 0, minExclusive: true, max: 10, optional: true, default: 1, doc: 'Zipf exponent a (p_k ∝ k^−a)' },
  ],
  doc: {
    name: 'embedding',
    title: 'Embedding (token + position + type tables)',
    source: 'derived here (collision probability of the token distribution)',
    assumptions: ['token ids iid over positions from the stated distribution', 'tables iid Gaussian', 'one segment'],
    domain: 'exact in expectation',
    method: 'closed-form',
    symbols: { wt: 'token table std', wp: 'position table std', wy: 'type table std', q: 'collision probability Σ p_v² (uniform: 1/V)' },
    forward: { mean: [{ expr: '0' }], var: [{ expr: E.var }], r: [{ expr: E.r }] },
    backward: { gradVar: [{ expr: 'g' }], gradR: [{ expr: 'rg' }] },
  },
  forward(p) {
    const q = collisionProbability(p.vocab, p.tokens ?? 'uniform', p.zipfExponent ?? 1);
    const a = [p.std, p.posStd ?? 0, p.typeStd ?? 0, q];
    const v = fVar(...a);
    return { out: { mean: 0, var: v, r: v > 0 ? fR(...a) : 0 }, method: 'closed-form', warnings: NO_WARNINGS, cache: null };
  },
  backward(_p, _x, _f, g) {
    return { var: g.var, r: g.r };
  },
});
