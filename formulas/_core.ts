/**
 * Shared machinery of the formula catalogue: the block contract, the expression compiler
 * (one string is the formula: printed, turned into LaTeX, differentiated, and compiled to a
 * native JS function that the engine calls), and the numerical tools (erf, normal cdf,
 * Gauss–Legendre nodes, Hermite coefficients for the Mehler expansion).
 */
import type { GradMoments, Method, Moments } from '../src/types.js';

// ---------------------------------------------------------------- block contract

export interface ParamSpec {
  name: string;
  kind: 'number' | 'integer' | 'boolean' | 'enum';
  /** inclusive bounds unless `minExclusive` / `maxExclusive` */
  min?: number;
  max?: number;
  minExclusive?: boolean;
  maxExclusive?: boolean;
  values?: readonly string[];
  optional?: boolean;
  default?: number | boolean | string;
  doc: string;
}

/** One printable formula of a block. `expr` is in the shared expression language (mathjs/nerdamer
 * syntax: + - * / ^, sqrt, exp, erf, asin, acos, pi). `when` says when it is the one used. */
export interface FormulaText {
  expr: string;
  when?: string;
}

export interface BlockDoc {
  name: string;
  title: string;
  /** paper + equation, or "derived here" with the derivation summarised */
  source: string;
  assumptions: string[];
  domain: string;
  method: Method;
  /** symbol -> meaning, for every free symbol used in the expressions */
  symbols: Record<string, string>;
  forward: { mean: FormulaText[]; var: FormulaText[]; r: FormulaText[] };
  backward: { gradVar: FormulaText[]; gradR: FormulaText[] };
  notes?: string[];
}

export interface ForwardResult<C = unknown> {
  out: Moments;
  method: Method;
  warnings: string[];
  /** anything the backward map needs from the forward computation */
  cache: C;
}

export interface Block<P = Record<string, unknown>, C = unknown> {
  doc: BlockDoc;
  params: ParamSpec[];
  /** `true` when the block reads no input activation (embedding) */
  source?: boolean;
  forward(p: P, x: Moments): ForwardResult<C>;
  backward(p: P, x: Moments, fwd: ForwardResult<C>, g: GradMoments): GradMoments;
  /** config v1's gradient correlation at the input (mean over token pairs of the per-pair Pearson
   * correlation) when it differs from the `r` that backward propagates; computed only for
   * reporting (component), so the engine never pays for it. Default: backward's rPearson ?? r.
   * `batch`: sequences per measurement batch, whose sample mean the statistic is centred at
   * (undefined: the expected mean; only causal attention's per-pair statistic depends on it). */
  reportedGradR?(p: P, x: Moments, fwd: ForwardResult<C>, g: GradMoments, back: GradMoments, batch?: number): number;
  /** config v1's token correlation at the output (mean over token pairs of the per-pair cosine) when
   * it differs from the `r` that forward propagates (a population ratio); computed only for
   * reporting (component), so the engine never pays for it. Default: forward's out.r. */
  reportedR?(p: P, x: Moments, fwd: ForwardResult<C>): number;
  /** the block's formulas over typed-array records (see Kernel): what the engine folds with.
   * Blocks without one are folded through their object API. */
  kernel?: Kernel<P>;
  /** whether `kernel` covers these params (default: always) */
  kernelApplies?(p: P): boolean;
}

export function defineBlock<P, C>(b: Block<P, C>): Block<P, C> {
  return b;
}

// ---------------------------------------------------------------- kernels over typed arrays
//
// A block's formulas are written once, as a kernel that reads its input moments from a
// Float64Array and writes its output record into it (no objects, no allocation): the engine folds
// whole stacks through one buffer of such records. The object API (forward/backward) of the
// block is derived from the same kernel (kernelForward/kernelBackward), so the two cannot differ.

/** Methods from the most to the least exact; a chain is as exact as its weakest stage. */
export const METHODS: readonly Method[] = ['closed-form', 'quadrature', 'monte-carlo'];
export const METHOD_RANK = Object.fromEntries(METHODS.map((m, i) => [m, i])) as Record<Method, number>;

/** Forward record layout: the output moments (unknown κ/ν: NaN), the method's rank (METHODS), a
 * warning flag (non-zero: the object forward has warnings for this input), then the block's own
 * cache for its backward kernel (R_C … RW − 1). */
export const R_MEAN = 0, R_VAR = 1, R_R = 2, R_KAPPA = 3, R_NU = 4, R_METHOD = 5, R_WARN = 6, R_C = 7;
/** Two more fluctuation moments of a token pair beside κ (= Var B): R_K2 = Cov(B_i, B_j), R_KA =
 * Cov(A_ij, B_i), with B_i = |x_i|²/E|x_i|² and A_ij = x_i·x_j/E|x_i|² (d-feature sums of one
 * token pair, uncentred; NaN: unknown). They give the finite-width gap between config v1's mean
 * per-pair cosine and the pooled correlation r the formulas propagate (cosGap). Written by setM as
 * NaN; kernels that know them write them with setF. */
export const R_K2 = 16, R_KA = 17;
export const RW = 18;
/** Gradient record layout: var, r, alignment with the token direction and with the all-ones
 * direction, per-pair Pearson gradR (unknown: NaN). */
export const G_VAR = 0, G_R = 1, G_ALIGN = 2, G_ALIGNM = 3, G_RP = 4;
export const GW = 5;

export interface Kernel<P> {
  /** input moments at S[i…], output record at S[o…] (o ≠ i) */
  fwd(p: P, S: Float64Array, i: number, o: number): void;
  /** the forward input record at S[i…] and output record at S[o…]; upstream gradient at G[gi…],
   * input gradient written to G[go…] (go may equal gi: read before writing) */
  bwd(p: P, S: Float64Array, i: number, o: number, G: Float64Array, gi: number, go: number): void;
}

const orNaN = (v: number | undefined): number => (v === undefined ? NaN : v);
const orUndef = (v: number): number | undefined => (v === v ? v : undefined);

/** Write an output record's moments, method rank and a cleared warning flag. */
export function setM(S: Float64Array, o: number, mean: number, v: number, r: number, kappa: number, nu: number, method = 0): void {
  S[o] = mean; S[o + 1] = v; S[o + 2] = r; S[o + 3] = kappa; S[o + 4] = nu; S[o + 5] = method; S[o + 6] = 0; S[o + R_K2] = NaN; S[o + R_KA] = NaN;
}
/** Write a record's pair fluctuation moments Cov(B_i, B_j) and Cov(A_ij, B_i) (after setM). */
export function setF(S: Float64Array, o: number, k2: number, ka: number): void {
  S[o + R_K2] = k2; S[o + R_KA] = ka;
}
/** Pair fluctuations of a state whose d features are iid given the token pair (a Wishart sample
 * of d features, or κ of one; Gaussian structure at correlation r): Cov(B_i, B_j) = κr²,
 * Cov(A, B) = κr (κ = 2/d for d Gaussian features). Writes them into S[o…]. */
export function setFGauss(S: Float64Array, o: number, kappa: number, r: number): void {
  S[o + R_K2] = kappa * r * r; S[o + R_KA] = kappa * r;
}
/**
 * The finite-width gap E[cos] − r of a token pair (derived here, issue 4): config v1's r is the mean
 * over pairs of the cosine A/√(B_i B_j) of two d-feature vectors, the engine propagates the pooled
 * ratio r = E[A]/E[B]; to second order (delta method about (r, 1, 1))
 *   E[cos] − r = ¾ r Var(B) + ¼ r Cov(B_i, B_j) − Cov(A, B).
 * d iid Gaussian features: Var B = 2/d, Cov(B_i,B_j) = 2r²/d, Cov(A,B) = 2r/d give −r(1 − r²)/(2d);
 * a token-shared component whose squared norm fluctuates by δ (all three = Var δ) gives −(1 − r)Var δ.
 * 0 when a moment is unknown (NaN) or the state has a mean (the statistic is centred, the moments
 * are not).
 */
export function cosGap(S: Float64Array, o: number): number {
  const mu = S[o], k = S[o + 3], k2 = S[o + R_K2], ka = S[o + R_KA];
  if (!(k === k && k2 === k2 && ka === ka) || mu !== 0) return 0;
  return pairGap(S[o + 2], k, k2, ka);
}
/** The gap itself, ¾rκ + ¼r·Cov(B_i, B_j) − Cov(A, B), from the three moments (see cosGap). */
export function pairGap(r: number, kappa: number, k2: number, ka: number): number {
  return 0.75 * r * kappa + 0.25 * r * k2 - ka;
}
/** Cov(B_i, B_j) and Cov(A, B) of d iid Gaussian features of mean μ, variance s and token
 * correlation r (Isserlis, uncentred: Cov(x_i², x_j²) = 2c² + 4μ²c, Cov(x_i x_j, x_i²) =
 * 2sc + 2μ²(s + c), c = rs; over d features and the squared mean square q² — κ itself is
 * (2s² + 4μ²s)/(dq²)); [0, 0] for q = 0. */
export function iidPairFluct(mu: number, s: number, r: number, d: number): [number, number] {
  const q = s + mu * mu, c = r * s, m2 = mu * mu, dq = d * q * q;
  return q > 0 ? [(2 * c * c + 4 * m2 * c) / dq, (2 * s * c + 2 * m2 * (s + c)) / dq] : [0, 0];
}
/** Pair fluctuations of an elementwise activation's output (or any block whose output features
 * are iid given the token pair): Gaussian structure at its κ and uncentred correlation (the
 * activation's own fourth moments enter κ, not the two covariances — an approximation). */
export function setFAct(S: Float64Array, o: number): void {
  setFGauss(S, o, S[o + 3], uncentredR(S[o], S[o + 1], S[o + 2]));
}
/** The mean per-pair cosine (config v1's r) of a zero-mean state with known pair fluctuations. */
export function cosR(S: Float64Array, o: number): number {
  return Math.max(-1, Math.min(1, S[o + 2] + cosGap(S, o)));
}
/** Write a gradient record. */
export function setG(G: Float64Array, o: number, v: number, r: number, align = NaN, alignMean = NaN, rPearson = NaN): void {
  G[o] = v; G[o + 1] = r; G[o + 2] = align; G[o + 3] = alignMean; G[o + 4] = rPearson;
}
export function putMoments(S: Float64Array, o: number, x: Moments): void {
  setM(S, o, x.mean, x.var, x.r, orNaN(x.kappa), orNaN(x.nu));
  setF(S, o, orNaN(x.pairK2), orNaN(x.pairKA));
}
export function readMoments(S: Float64Array, o: number): Moments {
  return mom(S[o], S[o + 1], S[o + 2], orUndef(S[o + 3]), orUndef(S[o + 4]), orUndef(S[o + R_K2]), orUndef(S[o + R_KA]));
}
export function putGrad(G: Float64Array, o: number, g: GradMoments): void {
  setG(G, o, g.var, g.r, orNaN(g.align), orNaN(g.alignMean), orNaN(g.rPearson));
}
export function readGrad(G: Float64Array, o: number): GradMoments {
  return gmom(G[o], G[o + 1], orUndef(G[o + 2]), orUndef(G[o + 3]), orUndef(G[o + 4]));
}

/** The cache of a kernel's object forward: its output record (RW numbers; R_C onward is what its
 * backward needs), as a plain array (cheaper to allocate than a typed array). */
export type KernelCache = number[];

/** Scratch records for the object API (a kernel call never nests another object call). */
const OS = new Float64Array(2 * RW), OG = new Float64Array(2 * GW);

/** The object forward of a kernel: it runs in a module scratch; the cache is a copy of the output
 * record; `warn` turns a raised warning flag into messages. */
export function kernelForward<P>(k: Kernel<P>, p: P, x: Moments, warn?: (p: P, x: Moments) => string[]): ForwardResult<KernelCache> {
  putMoments(OS, 0, x);
  k.fwd(p, OS, 0, RW);
  const cache: KernelCache = new Array(RW);
  for (let j = 0; j < RW; j++) cache[j] = OS[RW + j];
  return { out: readMoments(OS, RW), method: METHODS[OS[RW + R_METHOD]], warnings: OS[RW + R_WARN] !== 0 && warn ? warn(p, x) : NO_WARNINGS, cache };
}

/** The object backward of a kernel (over kernelForward's cache). */
export function kernelBackward<P>(k: Kernel<P>, p: P, x: Moments, f: ForwardResult<KernelCache>, g: GradMoments): GradMoments {
  putMoments(OS, 0, x);
  const c = f.cache;
  for (let j = 0; j < RW; j++) OS[RW + j] = c[j];
  putGrad(OG, 0, g);
  k.bwd(p, OS, 0, RW, OG, 0, GW);
  return readGrad(OG, GW);
}

/** The block's kernel when it covers these params. */
export function kernelFor<P>(b: Block<P, any>, p: P): Kernel<P> | undefined {
  return b.kernel && (!b.kernelApplies || b.kernelApplies(p)) ? b.kernel : undefined;
}

/** A block whose formulas are a kernel: forward and backward are derived from it. */
export function kernelBlock<P>(b: Omit<Block<P, KernelCache>, 'forward' | 'backward'> & { kernel: Kernel<P>; warn?: (p: P, x: Moments) => string[] }): Block<P, KernelCache> {
  const { kernel, warn } = b;
  return {
    ...b,
    forward: (p, x) => kernelForward(kernel, p, x, warn),
    backward: (p, x, f, g) => kernelBackward(kernel, p, x, f, g),
  };
}

/** The warnings of a forward result that has none (shared; never mutated). */
export const NO_WARNINGS: string[] = Object.freeze([]) as unknown as string[];

/** Moments in one fixed property order, so that every block's results share one object shape and
 * the engine's property reads stay monomorphic (absent optional fields are `undefined`). */
export function mom(mean: number, v: number, r: number, kappa?: number, nu?: number, pairK2?: number, pairKA?: number): Moments {
  return { mean, var: v, r, kappa, nu, pairK2, pairKA };
}

/** The token correlation a linear map sees: uncentred, r′ = (rσ² + μ²)/s′ with s′ = σ² + μ² (the
 * shared mean acts as correlation); 0 for s′ = 0. */
export function uncentredR(mu: number, s: number, r: number): number {
  const s1 = s + mu * mu;
  return s1 > 0 ? (r * s + mu * mu) / s1 : 0;
}

/** GradMoments in one fixed property order (see mom). */
export function gmom(v: number, r: number, align?: number, alignMean?: number, rPearson?: number): GradMoments {
  return { var: v, r, align, alignMean, rPearson };
}

// ---------------------------------------------------------------- expression compiler
//
// A small recursive-descent parser for the expression language (numbers, identifiers, + − * / ^,
// unary ±, parentheses, function calls) that emits JS source. It is deliberately tiny so that
// loading the catalogue does not load a computer-algebra system (mathjs takes ~1 s to import);
// the symbolic side (src/symbolic.ts) parses the same strings with mathjs/nerdamer.

const FN_MAP: Record<string, string> = {
  sqrt: 'Math.sqrt', exp: 'Math.exp', log: 'Math.log', acos: 'Math.acos', asin: 'Math.asin',
  atan: 'Math.atan', tanh: 'Math.tanh', abs: 'Math.abs', erf: '__erf', min: 'Math.min', max: 'Math.max',
};

type Tok = { k: 'num' | 'id' | 'op'; v: string };

function tokenize(src: string): Tok[] {
  const out: Tok[] = [];
  let i = 0;
  while (i < src.length) {
    const c = src[i];
    if (c === ' ') { i++; continue; }
    const num = /^(\d+\.?\d*|\.\d+)([eE][-+]?\d+)?/.exec(src.slice(i));
    if (num) { out.push({ k: 'num', v: num[0] }); i += num[0].length; continue; }
    const id = /^[A-Za-z_][A-Za-z_0-9]*/.exec(src.slice(i));
    if (id) { out.push({ k: 'id', v: id[0] }); i += id[0].length; continue; }
    if ('+-*/^(),'.includes(c)) { out.push({ k: 'op', v: c }); i++; continue; }
    throw new Error(`formula '${src}': unexpected character '${c}'`);
  }
  return out;
}

/** Expression → JS source. Grammar: sum := prod (('+'|'-') prod)*; prod := unary (('*'|'/') unary)*;
 * unary := ('-'|'+') unary | pow; pow := atom ('^' unary)?; atom := num | id | id '(' args ')' | '(' sum ')'. */
function toJsSource(src: string, vars: Set<string>): string {
  const t = tokenize(src);
  let p = 0;
  const peek = () => t[p];
  const eat = (v: string) => { if (t[p]?.v !== v) throw new Error(`formula '${src}': expected '${v}'`); p++; };
  const sum = (): string => {
    let a = prod();
    while (peek()?.k === 'op' && (peek().v === '+' || peek().v === '-')) { const o = t[p++].v; a = `(${a} ${o} ${prod()})`; }
    return a;
  };
  const prod = (): string => {
    let a = unary();
    while (peek()?.k === 'op' && (peek().v === '*' || peek().v === '/')) { const o = t[p++].v; a = `(${a} ${o} ${unary()})`; }
    return a;
  };
  const unary = (): string => {
    if (peek()?.k === 'op' && peek().v === '-') { p++; return `(-${unary()})`; }
    if (peek()?.k === 'op' && peek().v === '+') { p++; return unary(); }
    return pow();
  };
  const pow = (): string => {
    const a = atom();
    if (peek()?.k === 'op' && peek().v === '^') { p++; return `(${a} ** ${unary()})`; }
    return a;
  };
  const atom = (): string => {
    const k = t[p++];
    if (!k) throw new Error(`formula '${src}': unexpected end`);
    if (k.k === 'num') return `(${Number(k.v)})`;
    if (k.k === 'op' && k.v === '(') { const e = sum(); eat(')'); return `(${e})`; }
    if (k.k === 'id') {
      if (peek()?.v === '(') {
        if (!(k.v in FN_MAP)) throw new Error(`formula '${src}': unsupported function ${k.v}`);
        p++;
        const args = [sum()];
        while (peek()?.v === ',') { p++; args.push(sum()); }
        eat(')');
        return `${FN_MAP[k.v]}(${args.join(', ')})`;
      }
      if (k.v === 'pi') return 'Math.PI';
      if (k.v === 'e') return 'Math.E';
      if (!vars.has(k.v)) throw new Error(`formula '${src}': unknown symbol '${k.v}'`);
      return k.v;
    }
    throw new Error(`formula '${src}': unexpected '${k.v}'`);
  };
  const out = sum();
  if (p !== t.length) throw new Error(`formula '${src}': unexpected '${t[p].v}'`);
  return out;
}

export type Compiled = (...args: number[]) => number;

/** Compile an expression to a native function of `vars` (in that order). Done once per formula. */
export function compile(expr: string, vars: string[]): Compiled {
  const body = toJsSource(expr, new Set(vars));
  // a closure over erf, taking the variables positionally (no rest/spread: no allocation per call)
  // eslint-disable-next-line @typescript-eslint/no-implied-eval
  return new Function('__erf', `return function (${vars.join(', ')}) { return ${body}; };`)(erf) as Compiled;
}

// ---------------------------------------------------------------- special functions

/** erf with |error| < 1.2e-7 relative everywhere (Numerical Recipes erfc Chebyshev fit), refined. */
export function erf(x: number): number {
  // W. J. Cody's rational approximations would be tighter; this series/continued-fraction pair
  // is accurate to ~1e-15 and fast enough.
  const ax = Math.abs(x);
  if (ax < 2.5) {
    // Taylor series: erf x = 2/sqrt(pi) * sum (-1)^n x^(2n+1) / (n! (2n+1))
    let term = ax, sum = ax;
    const x2 = ax * ax;
    for (let n = 1; n < 60; n++) {
      term *= -x2 / n;
      const t = term / (2 * n + 1);
      sum += t;
      if (Math.abs(t) < 1e-17 * Math.abs(sum)) break;
    }
    const v = (2 / Math.sqrt(Math.PI)) * sum;
    return x < 0 ? -v : v;
  }
  const v = 1 - erfcLarge(ax);
  return x < 0 ? -v : v;
}

/** erfc(x) for x >= 2.5 by Lentz continued fraction. */
function erfcLarge(x: number): number {
  if (x > 27) return 0;
  // erfc x = exp(-x^2)/sqrt(pi) * 1/(x + 1/2/(x + 1/(x + 3/2/(x + 2/(x + ...)))))
  let f = x, C = x, D = 0;
  const tiny = 1e-300;
  for (let k = 1; k < 200; k++) {
    const a = k / 2;
    D = x + a * D; D = Math.abs(D) < tiny ? tiny : D; D = 1 / D;
    C = x + a / C; C = Math.abs(C) < tiny ? tiny : C;
    const delta = C * D;
    f *= delta;
    if (Math.abs(delta - 1) < 1e-16) break;
  }
  return Math.exp(-x * x) / Math.sqrt(Math.PI) / f;
}

export const SQRT2PI = Math.sqrt(2 * Math.PI);
export const normPdf = (z: number): number => Math.exp(-0.5 * z * z) / SQRT2PI;
export const normCdf = (z: number): number => (z < -5 ? 0.5 * erfcLarge(-z / Math.SQRT2) : 0.5 * (1 + erf(z / Math.SQRT2)));

// ---------------------------------------------------------------- quadrature

const glCache = new Map<number, { x: Float64Array; w: Float64Array }>();

/**
 * Memoised rows of a table over a 1-D grid (grid point gi → a row the caller builds once), one array
 * of rows per key (a, b); the last key is remembered, so a stack's repeated lookups with one key cost
 * two comparisons. Keys beyond `maxKeys` clear the memo (a search over many configs).
 */
export class GridRows {
  private readonly memo = new Map<string, (Float64Array | undefined)[]>();
  private a = NaN;
  private b = NaN;
  private last: (Float64Array | undefined)[] = [];
  constructor(private readonly size: number, private readonly maxKeys = 64) {}
  /** the rows of key (a, b), indexed by grid point (undefined until built) */
  rows(a: number, b: number): (Float64Array | undefined)[] {
    if (a !== this.a || b !== this.b) {
      const key = a + '|' + b;
      let rows = this.memo.get(key);
      if (!rows) { rows = new Array(this.size); if (this.memo.size > this.maxKeys) this.memo.clear(); this.memo.set(key, rows); }
      this.a = a; this.b = b; this.last = rows;
    }
    return this.last;
  }
}

/** Gauss–Legendre nodes/weights on [-1, 1]. */
export function gaussLegendre(n: number): { x: Float64Array; w: Float64Array } {
  const hit = glCache.get(n);
  if (hit) return hit;
  const x = new Float64Array(n), w = new Float64Array(n);
  for (let i = 0; i < n; i++) {
    let z = Math.cos(Math.PI * (i + 0.75) / (n + 0.5));
    let dp = 0;
    for (let it = 0; it < 100; it++) {
      let p0 = 1, p1 = z;
      for (let k = 2; k <= n; k++) { const p2 = ((2 * k - 1) * z * p1 - (k - 1) * p0) / k; p0 = p1; p1 = p2; }
      dp = n * (z * p1 - p0) / (z * z - 1);
      const dz = p1 / dp;
      z -= dz;
      if (Math.abs(dz) < 1e-15) break;
    }
    x[i] = z; w[i] = 2 / ((1 - z * z) * dp * dp);
  }
  const r = { x, w };
  glCache.set(n, r);
  return r;
}

/** ∫_a^b f, Gauss–Legendre with `n` nodes on each of `pieces` equal sub-intervals. */
export function integrate(f: (t: number) => number, a: number, b: number, n = 32, pieces = 1): number {
  const { x, w } = gaussLegendre(n);
  let sum = 0;
  const h = (b - a) / pieces;
  for (let p = 0; p < pieces; p++) {
    const lo = a + p * h, half = h / 2, mid = lo + half;
    for (let i = 0; i < n; i++) sum += w[i] * f(mid + half * x[i]);
  }
  return sum * h / 2;
}

/** Standard-normal nodes (z) and weights (w, summing to 1) for E[f(Z)], split at `breaks` so that
 * kinks (ReLU at z = -mu/sigma) fall on piece boundaries; accurate for piecewise-smooth f. */
export function normalNodes(breaks: number[] = [], n = 64): { z: Float64Array; w: Float64Array } {
  const lim = 12;
  const cuts = [-lim, ...breaks.filter((b) => b > -lim && b < lim).sort((a, b) => a - b), lim];
  const segs: [number, number][] = [];
  for (let i = 0; i + 1 < cuts.length; i++) {
    // further split long segments so every piece is <= 3 wide (Hermite functions oscillate)
    const a = cuts[i], b = cuts[i + 1];
    const k = Math.max(1, Math.ceil((b - a) / 3));
    for (let j = 0; j < k; j++) segs.push([a + (j * (b - a)) / k, a + ((j + 1) * (b - a)) / k]);
  }
  const { x, w } = gaussLegendre(n);
  const Z = new Float64Array(segs.length * n), W = new Float64Array(segs.length * n);
  let m = 0;
  for (const [a, b] of segs) {
    const half = (b - a) / 2, mid = (a + b) / 2;
    for (let i = 0; i < n; i++) {
      const z = mid + half * x[i];
      Z[m] = z; W[m] = w[i] * half * normPdf(z); m++;
    }
  }
  return { z: Z, w: W };
}

// ---------------------------------------------------------------- Mehler (Hermite) expansion

/** Number of Hermite terms kept. */
export const HERMITE_TERMS = 64;
/** √k, k = 0..HERMITE_TERMS (the Hermite recurrence's factors, looked up instead of computed) */
const SQRT_K = Float64Array.from({ length: HERMITE_TERMS + 1 }, (_, k) => Math.sqrt(k));

/**
 * Normalised Hermite coefficients c_k = E[f(mu + sigma Z) He_k(Z)] / sqrt(k!), k = 0..K.
 * Mehler: for X, Y ~ N(mu, sigma^2) with correlation r,
 *   E[f(X) g(Y)] = sum_k r^k c_k(f) c_k(g).
 * The coefficients depend on (mu, sigma) only, so they are computed once and cached; the
 * r-dependence is then a cheap power series.
 */
export function hermiteCoefficients(f: (x: number) => number, mu: number, sigma: number, kink?: number): Float64Array {
  const breaks = kink !== undefined && sigma > 0 ? [(kink - mu) / sigma] : [];
  const { z, w } = normalNodes(breaks, 48);
  const K = HERMITE_TERMS;
  const c = new Float64Array(K + 1);
  for (let i = 0; i < z.length; i++) {
    const fz = f(mu + sigma * z[i]) * w[i];
    let h0 = 1, h1 = z[i];
    c[0] += fz * h0;
    c[1] += fz * h1;
    for (let k = 1; k < K; k++) {
      const h2 = (z[i] * h1 - SQRT_K[k] * h0) / SQRT_K[k + 1];
      c[k + 1] += fz * h2;
      h0 = h1; h1 = h2;
    }
  }
  return c;
}

/** sum_k r^k a_k b_k for k >= from, with the tail beyond K estimated so that the sum is exact
 * at r = 1 (where it must equal `atOne`, computed directly). */
export function mehlerSum(a: Float64Array, b: Float64Array, r: number, atOne: number): number {
  const K = a.length - 1;
  let sum = 0, rk = 1, full = 0;
  for (let k = 0; k <= K; k++) {
    const t = a[k] * b[k];
    sum += rk * t; full += t;
    rk *= r;
  }
  // rk == r^(K+1). Tail sum_{k>K} r^k t_k, with t_k >= 0 spread from K+1 on: ~ tail(1) * r^(K+1).
  const tail = atOne - full;
  return sum + (r >= 0 ? tail * rk : 0);
}


