/**
 * Generic pointwise activation moments by quadrature, used wherever a block has no closed form
 * (non-zero input mean, tanh-GeLU, SiLU, the GeLU gradient correlation).
 *
 * For X, Y ~ N(μ, σ²) with correlation r (two tokens, one feature):
 *   mean = E f(X), var = E f(X)² − mean², r_out = (E f(X)f(Y) − mean²)/var,
 *   gradVar = σ_g² E f'(X)², r_g,in = r_g E f'(X)f'(Y) / E f'(X)²
 * (the upstream gradient is independent of the pre-activation). E f(X)f(Y) is the Mehler series
 * Σ_k r^k c_k², c_k the normalised Hermite coefficients of f(μ+σZ), computed once per (μ, σ) by
 * piecewise Gauss–Legendre (split at the kink) and cached; the series tail beyond K = 64 terms is
 * closed by requiring the exact value at r = 1.
 */
import { HERMITE_TERMS, hermiteCoefficients, mehlerSum, normalNodes } from './_core.js';

export interface ActivationFns {
  name: string;
  f: (x: number) => number;
  df: (x: number) => number;
  /** where f' jumps (ReLU: 0) */
  kink?: number;
  /** closed-form dispersion at zero input mean, where f is positively homogeneous (f(cx) = c^k f(x),
   * c > 0): γ = k and E[f⁴]/E[f²]² − 1 do not depend on the input variance */
  zeroMeanDispersion?: { ratio: number; gamma: number };
}

interface Coeffs { mean: number; m2: number; cf: Float64Array; dm2: number; cd: Float64Array }

/** Memo keyed by (activation, μ, σ²) with numeric keys (no string building on the hot path); the
 * last (activation, μ) slot is remembered, so a stack's repeated lookups cost one Map read. */
class MomentMemo<T> {
  private readonly m = new Map<string, Map<number, Map<number, T>>>();
  private size = 0;
  private lastName = '';
  private lastMu = NaN;
  private lastSlot: Map<number, T> | null = null;
  get(name: string, mu: number, s: number, make: () => T): T {
    const slot = this.lastSlot !== null && name === this.lastName && mu === this.lastMu ? this.lastSlot : this.slot(name, mu);
    const hit = slot.get(s);
    if (hit !== undefined) return hit;
    const v = make();
    if (++this.size > 20000) { this.m.clear(); this.size = 1; this.lastSlot = null; }
    this.slot(name, mu).set(s, v);
    return v;
  }
  private slot(name: string, mu: number): Map<number, T> {
    let byMu = this.m.get(name);
    if (!byMu) { byMu = new Map(); this.m.set(name, byMu); }
    let byS = byMu.get(mu);
    if (!byS) { byS = new Map(); byMu.set(mu, byS); }
    this.lastName = name; this.lastMu = mu; this.lastSlot = byS;
    return byS;
  }
}

const cache = new MomentMemo<Coeffs>();

/** σ² rounded to 36 significant bits (relative 1.5e-11): a deep stack's input variances that differ
 * only in the last bits (a Post-LN norm's output, 1 − 1e-5 up to rounding, layer after layer) share
 * one memo entry instead of a quadrature each (a 1000-layer Post-LN GeLU advise: 1969 quadratures, 2.5 s cold → 0.4 s). */
function keyS(s: number): number {
  if (!(s > 0) || !Number.isFinite(s)) return s;
  // floor(log2 s) from the bits where the mantissa lies well inside its binade (1 + f, 2⁻²⁰ ≤ f <
  // 1 − 2⁻²⁰: log2 s is then ≥ 1e-6 away from an integer, so Math.log2 floors to the same exponent),
  // and 2^(e − 36) from a table of the same powers: the same key without the log2 and the power
  // (near a power of two and for subnormals, Math.log2 as before)
  KB[0] = s;
  const hi = KU[1], m = hi & 0xfffff, ex = (hi >>> 20) & 0x7ff;
  const q = ex !== 0 && m !== 0 && m !== 0xfffff ? POW2[ex] : 2 ** (Math.floor(Math.log2(s)) - 36);
  return Math.round(s / q) * q;
}
const KB = new Float64Array(1), KU = new Uint32Array(KB.buffer);
/** POW2[ex] = 2 ** (ex − 1023 − 36): keyS's q for the biased exponent ex */
const POW2 = Float64Array.from({ length: 2047 }, (_, ex) => 2 ** (ex - 1023 - 36));
/** the last keyS argument and its key (the GeLU kernel asks for the same σ² twice per call) */
let lastS = NaN, lastKey = NaN;
function keyOf(s: number): number {
  if (s === lastS && s !== 0) return lastKey; // (0 and −0 compare equal: their keys are themselves)
  lastKey = keyS(s); lastS = s;
  return lastKey;
}

/** the last coeffs lookup (a stack's layers mostly ask for one key: a Post-LN norm's output) */
let lastA: ActivationFns | null = null, lastMu = NaN, lastK = NaN, lastC: Coeffs | null = null;
function coeffs(a: ActivationFns, mu: number, s: number): Coeffs {
  const k = keyOf(s);
  if (a === lastA && mu === lastMu && k === lastK) return lastC!;
  const c = cache.get(a.name, mu, k, () => computeCoeffs(a, mu, k));
  lastA = a; lastMu = mu; lastK = k; lastC = c;
  return c;
}

function computeCoeffs(a: ActivationFns, mu: number, s: number): Coeffs {
  const sigma = Math.sqrt(s);
  const cf = hermiteCoefficients(a.f, mu, sigma, a.kink);
  const cd = hermiteCoefficients(a.df, mu, sigma, a.kink);
  const { z, w } = normalNodes(a.kink !== undefined && sigma > 0 ? [(a.kink - mu) / sigma] : [], 48);
  let m2 = 0, dm2 = 0;
  for (let i = 0; i < z.length; i++) {
    const x = mu + sigma * z[i];
    const fx = a.f(x), dx = a.df(x);
    m2 += w[i] * fx * fx; dm2 += w[i] * dx * dx;
  }
  return { mean: cf[0], m2, cf, dm2, cd };
}

export interface ActivationMoments { mean: number; var: number; r: number; e2: number; dm2: number; dcross: number }

/** All moments needed forward and backward at input (μ, σ², r), into S[o…o+5] as
 * [mean, var, r, E f², E f'², E f'(X)f'(Y)] (no allocation: the engine's kernels). */
export function activationMomentsInto(a: ActivationFns, mu: number, s: number, r: number, S: Float64Array, o: number, withR = true): void {
  if (s <= 0) {
    const v = a.f(mu), d = a.df(mu);
    S[o] = v; S[o + 1] = 0; S[o + 2] = 0; S[o + 3] = v * v; S[o + 4] = d * d; S[o + 5] = d * d;
    return;
  }
  const c = coeffs(a, mu, s);
  const dcross = mehlerSum(c.cd, c.cd, r, c.dm2); // E f'(X) f'(Y)
  const v = Math.max(c.m2 - c.mean * c.mean, 0);
  // withR false: the caller has the output correlation in closed form (NaN left in its slot)
  const rr = !withR ? NaN : v > 0 ? (mehlerSum(c.cf, c.cf, r, c.m2) - c.mean * c.mean) / v : 0; // E f(X) f(Y)
  S[o] = c.mean; S[o + 1] = v; S[o + 2] = Math.max(-1, Math.min(1, rr)); S[o + 3] = c.m2; S[o + 4] = c.dm2; S[o + 5] = dcross;
}

const AM = new Float64Array(6);
/** activationMomentsInto as an object. */
export function activationMoments(a: ActivationFns, mu: number, s: number, r: number): ActivationMoments {
  activationMomentsInto(a, mu, s, r, AM, 0);
  return { mean: AM[0], var: AM[1], r: AM[2], e2: AM[3], dm2: AM[4], dcross: AM[5] };
}

export const QUADRATURE_NOTE = `Mehler–Hermite series (${HERMITE_TERMS} terms, tail closed at r=1) with piecewise Gauss–Legendre coefficients`;

const dispMemo = new MomentMemo<{ ratio: number; gamma: number }>();

/** Per-token dispersion of an activation's output mean square: for a token whose pre-activation
 * features are iid N(μ, s(1+δ)) with δ carrying the input dispersion κ_in,
 *   κ_out = γ² κ_in + Var(φ²)/(d E[φ²]²),   γ = d ln E[φ²] / d ln s
 * (first order in 1/d; quadrature for E[φ²], E[φ⁴], γ by a central difference in s). */
export function activationDispersion(a: ActivationFns, mu: number, s: number): { ratio: number; gamma: number } {
  if (mu === 0 && a.zeroMeanDispersion) return a.zeroMeanDispersion;
  const k = keyOf(s);
  if (a === dLastA && mu === dLastMu && k === dLastK) return dLastD!;
  const r = dispMemo.get(a.name, mu, k, () => computeDispersion(a, mu, k));
  dLastA = a; dLastMu = mu; dLastK = k; dLastD = r;
  return r;
}
let dLastA: ActivationFns | null = null, dLastMu = NaN, dLastK = NaN, dLastD: { ratio: number; gamma: number } | null = null;

function computeDispersion(a: ActivationFns, mu: number, s: number): { ratio: number; gamma: number } {
  const m = (sv: number, pow: number) => {
    const sigma = Math.sqrt(sv);
    const { z, w } = normalNodes(a.kink !== undefined && sigma > 0 ? [(a.kink - mu) / sigma] : [], 48);
    let acc = 0;
    for (let i = 0; i < z.length; i++) acc += w[i] * a.f(mu + sigma * z[i]) ** pow;
    return acc;
  };
  const m2 = m(s, 2), m4 = m(s, 4);
  const h = 1e-3;
  const gamma = s > 0 && m2 > 0 ? (Math.log(m(s * (1 + h), 2)) - Math.log(m(s * (1 - h), 2))) / (Math.log(1 + h) - Math.log(1 - h)) : 0;
  return { ratio: m2 > 0 ? Math.max(m4 / (m2 * m2) - 1, 0) : 0, gamma };
}

/** κ of an activation output given the input κ and the width d (NaN when either is unknown:
 * κ NaN, d absent). */
export function activationKappa(a: ActivationFns, mu: number, s: number, kappa: number, d?: number): number {
  if (!(kappa === kappa) || !d || s <= 0) return NaN;
  const { ratio, gamma } = activationDispersion(a, mu, s);
  return gamma * gamma * kappa + ratio / d;
}
