/**
 * Model config v1: parsing, validation (one clear error naming the field) and resolution of
 * per-layer arrays. Semantics (the verification harness builds exactly this):
 *   pre:  x ← λ·x + β·Drop(Attn(Norm(x)));  x ← λ·x + β·FFN(Norm(x))
 *   post: x ← Norm(λ·x + β·Drop(Attn(x)));  x ← Norm(λ·x + β·FFN(x))
 * Attn = multi-head softmax(QKᵀ/√d_h)·V then W_o, no biases, dropout p_attn on the probabilities;
 * FFN = W1 → act → dropout p_act → W2 → dropout p (or SwiGLU: silu(xW1)⊙(xW3) → dropout p_act → W2 → dropout p).
 * Rates: p = `dropout` (the two residual-branch dropouts, Drop above and after W2), p_attn = `attnDropout`
 * and p_act = `actDropout`, each defaulting to `dropout` (so a config with `dropout` alone drops at all
 * four places with one rate).
 */
import { fail, isObject, num, onlyKeys } from './errors.js';
import type { Moments } from './types.js';

export type NormPlacement = 'pre' | 'post';
export type NormKind = 'layernorm' | 'rmsnorm';
export type ActivationName = 'relu' | 'gelu' | 'gelu_tanh' | 'silu' | 'swiglu';
export type PerLayer = number | number[];

export interface ConfigV1 {
  name?: string;
  layers: number;
  dModel: number;
  heads: number;
  dFF?: number;
  seqLen: number;
  norm?: NormPlacement;
  normKind?: NormKind;
  activation?: ActivationName;
  dropout?: number;
  /** dropout on the attention probabilities (default: dropout) */
  attnDropout?: number;
  /** dropout after the FFN activation / the SwiGLU product (default: dropout) */
  actDropout?: number;
  causal?: boolean;
  residual?: { skip?: PerLayer; branch?: PerLayer };
  init?: { qk?: PerLayer; v?: PerLayer; o?: PerLayer; ffn1?: PerLayer; ffn2?: PerLayer; ffn3?: PerLayer };
  input?: Partial<Moments>;
  finalNorm?: boolean;
  eps?: number;
}

/** Config with defaults filled and every per-layer value expanded to an array of length `layers`. */
export interface ResolvedConfig {
  name?: string;
  layers: number;
  dModel: number;
  heads: number;
  dFF: number;
  seqLen: number;
  norm: NormPlacement;
  normKind: NormKind;
  activation: ActivationName;
  /** residual-branch dropouts: after the attention output (W_o) and after the FFN output (W2) */
  dropout: number;
  /** on the attention probabilities */
  attnDropout: number;
  /** after the FFN activation (SwiGLU: after the product) */
  actDropout: number;
  causal: boolean;
  skip: number[];
  branch: number[];
  init: { qk: number[]; v: number[]; o: number[]; ffn1: number[]; ffn2: number[]; ffn3: number[] };
  input: Moments;
  finalNorm: boolean;
  eps: number;
}

export const MAX_LAYERS = 100_000;
export const DEFAULT_STD = 0.02;
const TOP_KEYS = ['name', 'layers', 'dModel', 'heads', 'dFF', 'seqLen', 'norm', 'normKind', 'activation', 'dropout', 'attnDropout', 'actDropout', 'causal', 'residual', 'init', 'input', 'finalNorm', 'eps'] as const;
const INIT_KEYS = ['qk', 'v', 'o', 'ffn1', 'ffn2', 'ffn3'] as const;

function oneOf<T extends string>(v: unknown, allowed: readonly T[], field: string, dflt: T): T {
  if (v === undefined) return dflt;
  if (typeof v !== 'string' || !allowed.includes(v as T)) fail(field, `must be one of ${allowed.join(', ')}, got ${JSON.stringify(v)}`);
  return v as T;
}

function bool(v: unknown, field: string, dflt: boolean): boolean {
  if (v === undefined) return dflt;
  if (typeof v !== 'boolean') fail(field, `must be true or false, got ${JSON.stringify(v)}`);
  return v;
}

function perLayer(v: unknown, field: string, n: number, dflt: number, min = 0): number[] {
  if (v === undefined) return new Array(n).fill(dflt);
  if (Array.isArray(v)) {
    if (v.length !== n) fail(field, `per-layer array must have length layers = ${n}, got ${v.length}`);
    // Array.from, not map: map skips the holes of a sparse array (API callers), leaving undefined entries
    return Array.from(v, (x, i) => num(x, `${field}[${i}]`, { min }));
  }
  const x = num(v, field, { min });
  return new Array(n).fill(x);
}

/** The smallest pairwise correlation `tokens` exchangeable tokens can have: −1/(tokens − 1)
 * (their covariance (1 − r)I + r·11ᵀ is positive semi-definite only above it; 0 for one token). */
export function minTokenCorrelation(tokens: number): number { return tokens > 1 ? -1 / (tokens - 1) : 0; }

/** Reject a token correlation that no sequence of `tokens` tokens can have (InputError naming `field`). */
export function checkTokenCorrelation(r: number, tokens: number, field: string): void {
  if (tokens > 1 && r < minTokenCorrelation(tokens) - 1e-12) {
    fail(field, `must be >= -1/(seqLen-1) = ${minTokenCorrelation(tokens).toPrecision(4)} for seqLen ${tokens} (no ${tokens} tokens can be more anti-correlated), got ${r}`);
  }
}

/** Validate one config object (v1). Throws InputError naming the field. `at` prefixes field names. */
export function resolveConfig(raw: unknown, at = ''): ResolvedConfig {
  const F = (k: string) => (at ? `${at}.${k}` : k);
  if (!isObject(raw)) fail(at || 'config', 'must be a JSON object');
  onlyKeys(raw, TOP_KEYS, at);
  const layers = num(raw.layers, F('layers'), { min: 1, max: MAX_LAYERS, integer: true });
  const dModel = num(raw.dModel, F('dModel'), { min: 1, max: 1_048_576, integer: true });
  const heads = num(raw.heads, F('heads'), { min: 1, max: dModel, integer: true });
  if (dModel % heads !== 0) fail(F('heads'), `must divide dModel (${dModel}), got ${heads}`);
  const dFF = raw.dFF === undefined ? 4 * dModel : num(raw.dFF, F('dFF'), { min: 1, max: 16_777_216, integer: true });
  const seqLen = num(raw.seqLen, F('seqLen'), { min: 1, max: 65_536, integer: true });
  const norm = oneOf(raw.norm, ['pre', 'post'] as const, F('norm'), 'pre');
  const normKind = oneOf(raw.normKind, ['layernorm', 'rmsnorm'] as const, F('normKind'), 'layernorm');
  if (dModel < (normKind === 'layernorm' ? 4 : 3)) fail(F('dModel'), `must be >= ${normKind === 'layernorm' ? 4 : 3} with ${normKind}`);
  const activation = oneOf(raw.activation, ['relu', 'gelu', 'gelu_tanh', 'silu', 'swiglu'] as const, F('activation'), 'relu');
  const rate = (v: unknown, k: string, dflt: number) => (v === undefined ? dflt : num(v, F(k), { min: 0, max: 1, maxExclusive: true }));
  const dropout = rate(raw.dropout, 'dropout', 0);
  const attnDropout = rate(raw.attnDropout, 'attnDropout', dropout);
  const actDropout = rate(raw.actDropout, 'actDropout', dropout);
  const causal = bool(raw.causal, F('causal'), false);
  const finalNorm = bool(raw.finalNorm, F('finalNorm'), false);
  const eps = raw.eps === undefined ? 1e-5 : num(raw.eps, F('eps'), { min: 0, max: 1 });
  const res = raw.residual === undefined ? {} : raw.residual;
  if (!isObject(res)) fail(F('residual'), 'must be an object {skip, branch}');
  onlyKeys(res, ['skip', 'branch'], F('residual'));
  const skip = perLayer(res.skip, F('residual.skip'), layers, 1);
  const branch = perLayer(res.branch, F('residual.branch'), layers, 1);
  const ini = raw.init === undefined ? {} : raw.init;
  if (!isObject(ini)) fail(F('init'), `must be an object {${INIT_KEYS.join(', ')}}`);
  onlyKeys(ini, INIT_KEYS, F('init'));
  const init = {
    qk: perLayer(ini.qk, F('init.qk'), layers, DEFAULT_STD),
    v: perLayer(ini.v, F('init.v'), layers, DEFAULT_STD),
    o: perLayer(ini.o, F('init.o'), layers, DEFAULT_STD),
    ffn1: perLayer(ini.ffn1, F('init.ffn1'), layers, DEFAULT_STD),
    ffn2: perLayer(ini.ffn2, F('init.ffn2'), layers, DEFAULT_STD),
    ffn3: [] as number[],
  };
  init.ffn3 = ini.ffn3 === undefined ? init.ffn1.slice() : perLayer(ini.ffn3, F('init.ffn3'), layers, DEFAULT_STD);
  const inp = raw.input === undefined ? {} : raw.input;
  if (!isObject(inp)) fail(F('input'), 'must be an object {mean, var, r}');
  onlyKeys(inp, ['mean', 'var', 'r'], F('input'));
  const input: Moments = {
    mean: inp.mean === undefined ? 0 : num(inp.mean, F('input.mean')),
    var: inp.var === undefined ? 1 : num(inp.var, F('input.var'), { min: 0 }),
    r: inp.r === undefined ? 0 : num(inp.r, F('input.r'), { min: -1, max: 1 }),
  };
  checkTokenCorrelation(input.r, seqLen, F('input.r'));
  if (raw.name !== undefined && typeof raw.name !== 'string') fail(F('name'), 'must be a string');
  return { name: raw.name as string | undefined, layers, dModel, heads, dFF, seqLen, norm, normKind, activation, dropout, attnDropout, actDropout, causal, skip, branch, init, input, finalNorm, eps };
}

/** One config or an array of configs. */
export function resolveConfigs(raw: unknown): { configs: ResolvedConfig[]; isArray: boolean } {
  if (Array.isArray(raw)) {
    if (raw.length === 0) fail('config', 'array must hold at least one config');
    return { configs: raw.map((c, i) => resolveConfig(c, `[${i}]`)), isArray: true };
  }
  return { configs: [resolveConfig(raw)], isArray: false };
}

/** Back to a v1 JSON object (per-layer arrays collapsed to numbers when constant; attnDropout and
 * actDropout only where they differ from dropout, their default). */
export function toConfigV1(c: ResolvedConfig): ConfigV1 {
  const pl = (a: number[]): PerLayer => (a.every((x) => x === a[0]) ? a[0] : a.slice());
  const out: ConfigV1 = {
    layers: c.layers, dModel: c.dModel, heads: c.heads, dFF: c.dFF, seqLen: c.seqLen, norm: c.norm, normKind: c.normKind,
    activation: c.activation, dropout: c.dropout,
    ...(c.attnDropout !== c.dropout ? { attnDropout: c.attnDropout } : {}),
    ...(c.actDropout !== c.dropout ? { actDropout: c.actDropout } : {}),
    causal: c.causal,
    residual: { skip: pl(c.skip), branch: pl(c.branch) },
    init: { qk: pl(c.init.qk), v: pl(c.init.v), o: pl(c.init.o), ffn1: pl(c.init.ffn1), ffn2: pl(c.init.ffn2) },
    input: { ...c.input }, finalNorm: c.finalNorm,
  };
  if (c.activation === 'swiglu') out.init!.ffn3 = pl(c.init.ffn3);
  if (c.eps !== 1e-5) out.eps = c.eps;
  if (c.name) out.name = c.name;
  return out;
}
