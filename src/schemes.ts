/**
 * Named initialisation schemes: functions ResolvedConfig → ResolvedConfig that set the init stds
 * (config v1 `init`) and the residual multipliers (`residual.skip` λ, `residual.branch` β), per
 * layer where the scheme needs it. Every architecture field (layers, widths, heads, seqLen, norm
 * placement/kind, activation, dropout, causal, input, finalNorm, eps) is kept unchanged.
 *
 * Config v1 semantics (src/config.ts): Pre-LN x ← λx + β·F(Norm(x)); Post-LN x ← Norm(λx + β·F(x)).
 * Each scheme documents its source and any disagreement between the paper and its reference code.
 */
import type { ResolvedConfig } from './config.js';
import type { Moments } from './types.js';
import { layerSublayers, sharedStages } from './engine.js';
import { chainOut } from '../formulas/_chain.js';
import { residualForward } from '../formulas/residual.js';
import { fail } from './errors.js';

export const SCHEME_NAMES = ['xavier', 'bert', 'gpt2', 'deepnorm', 'deepscalelm', 'admin', 't-fixup', 'advised'] as const;
export type SchemeName = (typeof SCHEME_NAMES)[number];

export type DeepNormVariant = 'encoder' | 'decoder' | 'encdec-encoder' | 'encdec-decoder';
export const DEEPNORM_VARIANTS: readonly DeepNormVariant[] = ['encoder', 'decoder', 'encdec-encoder', 'encdec-decoder'];

export interface SchemeOptions {
  /** DeepNorm table row; default: decoder for causal configs, encoder otherwise */
  deepnormVariant?: DeepNormVariant;
  /** depth of the other stack for the encoder-decoder rows (M for the encoder row, N for the decoder row); default = layers */
  otherLayers?: number;
  /** DeepNorm encoder-decoder encoder β constant: paper 0.87 (default) or torchscale 1.15 */
  deepnormBeta?: 'paper' | 'torchscale';
  /** DeepScaleLM (and advised) β² = k/N; default 1 */
  k?: number;
}

export interface SchemeResult { config: ResolvedConfig; notes: string[] }

export interface SchemeInfo {
  name: SchemeName;
  title: string;
  source: string;
  /** paper-vs-code disagreements and approximations made to express it in config v1 */
  caveats: string[];
}

// ------------------------------------------------------------------ helpers

export function cloneConfig(c: ResolvedConfig): ResolvedConfig {
  return {
    ...c,
    skip: c.skip.slice(), branch: c.branch.slice(),
    init: { qk: c.init.qk.slice(), v: c.init.v.slice(), o: c.init.o.slice(), ffn1: c.init.ffn1.slice(), ffn2: c.init.ffn2.slice(), ffn3: c.init.ffn3.slice() },
    input: { ...c.input },
  };
}

const fill = (n: number, x: number) => new Array<number>(n).fill(x);

/** Xavier/Glorot normal std: gain·√(2/(fan_in + fan_out)) (Glorot & Bengio 2010). */
export const xavierStd = (fanIn: number, fanOut: number, gain = 1) => gain * Math.sqrt(2 / (fanIn + fanOut));

function setAll(c: ResolvedConfig, s: { qk: number; v: number; o: number; ffn1: number; ffn2: number; ffn3?: number }): void {
  const N = c.layers;
  c.init = { qk: fill(N, s.qk), v: fill(N, s.v), o: fill(N, s.o), ffn1: fill(N, s.ffn1), ffn2: fill(N, s.ffn2), ffn3: fill(N, s.ffn3 ?? s.ffn1) };
}

function xavierAll(c: ResolvedConfig, gainVO = 1, gainFfn = 1): void {
  const d = c.dModel, f = c.dFF;
  setAll(c, { qk: xavierStd(d, d), v: xavierStd(d, d, gainVO), o: xavierStd(d, d, gainVO), ffn1: xavierStd(d, f, gainFfn), ffn2: xavierStd(f, d, gainFfn) });
}

/**
 * Forward fold, layer by layer, with exactly the engine's sub-layers (layerSublayers,
 * catalogue chainOut, residualForward, post-norm). Before layer l is built, `hook(l, x)` may set
 * the per-layer values of `c` at index l from the state x entering layer l. Returns the states
 * entering each layer (index l) and the final state (index N, before any final norm).
 */
export function foldForward(c: ResolvedConfig, hook?: (l: number, x: Moments) => void): Moments[] {
  const states: Moments[] = [c.input];
  let x = c.input;
  const shared = sharedStages(c);
  for (let l = 0; l < c.layers; l++) {
    hook?.(l, x);
    for (const sl of layerSublayers(c, l, shared)) {
      const added = residualForward(sl.skip, sl.branch, x, chainOut(sl.stages, x));
      x = sl.postNorm ? chainOut([sl.postNorm], added) : added;
      if (!Number.isFinite(x.var)) { x = { mean: x.mean, var: Infinity, r: x.r }; }
    }
    states.push(x);
  }
  return states;
}

// ------------------------------------------------------------------ DeepNorm table

export interface DeepNormConstants { alpha: number; beta: number; row: string }

/** DeepNet (Wang et al. 2022) Table / Fig. 2: α (skip) and β (init gain) for N encoder and M decoder layers. */
export function deepnormConstants(variant: DeepNormVariant, N: number, M: number, betaSource: 'paper' | 'torchscale' = 'paper'): DeepNormConstants {
  switch (variant) {
    case 'encoder': return { alpha: (2 * N) ** 0.25, beta: (8 * N) ** -0.25, row: 'encoder-only: α=(2N)^{1/4}, β=(8N)^{-1/4}' };
    case 'decoder': return { alpha: (2 * M) ** 0.25, beta: (8 * M) ** -0.25, row: 'decoder-only: α=(2M)^{1/4}, β=(8M)^{-1/4}' };
    case 'encdec-encoder': {
      const c = betaSource === 'torchscale' ? 1.15 : 0.87;
      return { alpha: 0.81 * (N ** 4 * M) ** (1 / 16), beta: c * (N ** 4 * M) ** (-1 / 16), row: `encoder-decoder, encoder: α=0.81(N⁴M)^{1/16}, β=${c}(N⁴M)^{-1/16} (${betaSource})` };
    }
    case 'encdec-decoder': return { alpha: (3 * M) ** 0.25, beta: (12 * M) ** -0.25, row: 'encoder-decoder, decoder: α=(3M)^{1/4}, β=(12M)^{-1/4}' };
  }
}

/** Admin (Liu et al. 2020, admin-torch default): ω = √((n+1)/ln(n+1) − 1), n residual sub-layers. */
export const adminOmega = (nRes: number) => Math.sqrt((nRes + 1) / Math.log(nRes + 1) - 1);

// ------------------------------------------------------------------ the schemes

export const SCHEMES: Record<SchemeName, SchemeInfo> = {
  xavier: {
    name: 'xavier', title: 'Xavier/Glorot normal on every linear, λ = β = 1',
    source: 'Glorot & Bengio 2010: std = √(2/(fan_in+fan_out))',
    caveats: [],
  },
  bert: {
    name: 'bert', title: 'all weights N(0, 0.02²), λ = β = 1',
    source: 'Devlin et al. 2019; transformers BertPreTrainedModel._init_weights (initializer_range = 0.02)',
    caveats: [],
  },
  gpt2: {
    name: 'gpt2', title: 'N(0, 0.02²); residual output projections (o, ffn2) ×1/√(2N)',
    source: 'Radford et al. 2019 (GPT-2 §2.3: residual weights ×1/√N, N residual layers); transformers GPT2PreTrainedModel._init_weights: c_proj std = 0.02/√(2·n_layer)',
    caveats: ['the paper says 1/√N with N the number of residual layers; the reference code writes 1/√(2·n_layer) — the same thing (two residual sub-layers per block)'],
  },
  deepnorm: {
    name: 'deepnorm', title: 'DeepNorm: skip α, Xavier-normal with gain β on v, o, ffn (gain 1 on q, k)',
    source: 'Wang et al. 2022, DeepNet (arXiv 2203.00555), Fig. 2 / Table; torchscale reference code',
    caveats: [
      'encoder-decoder encoder row: β = 0.87(N⁴M)^{-1/16} in the paper, 1.15(N⁴M)^{-1/16} in torchscale (select with deepnormBeta)',
      "DeepNorm's x ← LN(αx + G(x)) is config v1 Post-LN with skip = α, branch = 1 and β inside the init",
      'the paper uses Xavier-normal; torchscale uses xavier_uniform_ (same variance) — variance-only moments cannot tell them apart',
    ],
  },
  deepscalelm: {
    name: 'deepscalelm', title: 'DeepScaleLM: λ²+β²=1, β²=k/N; Q,K σ²=1/d; per-layer V,O σ²=√((1−p)/r_l)/d; FFN σ²=√((1−p)/2)/d',
    source: 'Kedia et al. 2024, "Transformers Get Stable" (arXiv 2403.09635) and its Megatron code (λ²=0.995, β²=0.005 at N=192)',
    caveats: [
      'k: the code default β²=0.005 at N=192 is k = 0.96 ≈ 1; k = 1 is used (override with k). N counts layers (each layer has two residual sub-layers sharing λ, β)',
      'r_l is the token correlation entering layer l from the engine\'s own forward recurrence; clamped to ≥ 0.01 (σ² ∝ r^{-1/2} diverges at r = 0)',
      'the V/O and FFN rules are derived for ReLU and large L; applied unchanged to other activations',
    ],
  },
  admin: {
    name: 'admin', title: 'Admin: skip ω = √((n+1)/ln(n+1) − 1), n = 2N residual sub-layers; Xavier-normal init',
    source: 'Liu et al. 2020, "Understanding the Difficulty of Training Transformers"; admin-torch as_module(num_res_layers) default (output_change_scale O(log n))',
    caveats: [
      'ω is the initial value of a learnable vector in Admin; the original paper profiles ω from the forward variances, admin-torch uses this closed form',
      'n = number of residual sub-layers = 2 × layers, as admin-torch documents for an encoder',
    ],
  },
  't-fixup': {
    name: 't-fixup', title: 'T-Fixup: Xavier, v/o/ffn ×0.67·N^{-1/4} (encoder) or ×(9N)^{-1/4} (decoder), λ = β = 1',
    source: 'Huang et al. 2020, "Improving Transformer Optimization Through Better Initialization" (ICML), and its fairseq code',
    caveats: [
      'T-Fixup removes every LayerNorm and scales the embeddings by (9N)^{-1/4}; config v1 keeps the norms and the input, so only the weight scaling is applied',
      'the code initialises v_proj with Xavier gain 1/√2 and multiplies by √2·0.67N^{-1/4} — the same variance as Xavier gain 1 × 0.67N^{-1/4} used here',
    ],
  },
  advised: {
    name: 'advised', title: 'this tool\'s advisor: unit-gain branches solved per layer, λ from the variance equation, β² = k/N with k solved for the gradient band',
    source: 'derived here (src/advise.ts); see `moments advise --explain`',
    caveats: [],
  },
};

export function schemeInfo(name: string, field = '--scheme'): SchemeInfo {
  if (!(SCHEME_NAMES as readonly string[]).includes(name)) fail(field, `unknown scheme '${name}' (one of ${SCHEME_NAMES.join(', ')})`);
  return SCHEMES[name as SchemeName];
}

/** Apply a named scheme other than `advised` (that one lives in advise.ts, which imports this file). */
export function applyBasicScheme(name: Exclude<SchemeName, 'advised'>, cfg: ResolvedConfig, opts: SchemeOptions = {}): SchemeResult {
  const c = cloneConfig(cfg);
  const N = c.layers, d = c.dModel;
  const notes: string[] = [];
  const unit = () => { c.skip = fill(N, 1); c.branch = fill(N, 1); };
  switch (name) {
    case 'xavier': xavierAll(c); unit(); break;
    case 'bert': setAll(c, { qk: 0.02, v: 0.02, o: 0.02, ffn1: 0.02, ffn2: 0.02 }); unit(); break;
    case 'gpt2': {
      const s = 0.02 / Math.sqrt(2 * N);
      setAll(c, { qk: 0.02, v: 0.02, o: s, ffn1: 0.02, ffn2: s }); unit();
      notes.push(`o and ffn2 std = 0.02/√(2·${N}) = ${s.toPrecision(4)}`);
      break;
    }
    case 'deepnorm': {
      const variant = opts.deepnormVariant ?? (c.causal ? 'decoder' : 'encoder');
      const other = opts.otherLayers ?? N;
      const [Ne, Md] = variant === 'encdec-decoder' ? [other, N] : variant === 'encdec-encoder' ? [N, other] : [N, N];
      const k = deepnormConstants(variant, Ne, Md, opts.deepnormBeta ?? 'paper');
      xavierAll(c, k.beta, k.beta);
      c.skip = fill(N, k.alpha); c.branch = fill(N, 1);
      notes.push(`DeepNorm ${k.row}: α = ${k.alpha.toPrecision(5)}, β = ${k.beta.toPrecision(5)}${variant.startsWith('encdec') ? ` (N=${Ne} encoder, M=${Md} decoder layers)` : ''}`);
      if (c.norm !== 'post') notes.push('DeepNorm is defined for Post-LN; applied here to a Pre-LN config as skip α / init β');
      break;
    }
    case 'deepscalelm': {
      const k = opts.k ?? 1;
      const b2 = Math.min(k / N, 1);
      // DSLM's p is the hidden (residual-branch) dropout, config v1 `dropout`: after W_o for V/O, and
      // the one FFN dropout its ReLU FFN rule compensates (after W2; the attention-probability and
      // activation dropouts, attnDropout and actDropout, are not in these published rules)
      const p = c.dropout;
      c.skip = fill(N, Math.sqrt(1 - b2)); c.branch = fill(N, Math.sqrt(b2));
      const sFfn = Math.sqrt(Math.sqrt((1 - p) / 2) / d);
      const sQK = Math.sqrt(1 / d);
      setAll(c, { qk: sQK, v: sQK, o: sQK, ffn1: sFfn, ffn2: sFfn });
      let clamped = 0;
      foldForward(c, (l, x) => {
        let r = x.r;
        if (r < 0.01) { r = 0.01; clamped++; }
        const s = Math.sqrt(Math.sqrt((1 - p) / r) / d);
        c.init.v[l] = s; c.init.o[l] = s;
      });
      notes.push(`DeepScaleLM: λ² = 1 − k/N, β² = k/N with k = ${k} (β = ${Math.sqrt(b2).toPrecision(4)}); V/O std from r_l = ${c.init.v[0].toPrecision(4)} (layer 1) … ${c.init.v[N - 1].toPrecision(4)} (layer ${N})`);
      if (clamped) notes.push(`r_l < 0.01 at ${clamped} layer(s): clamped to 0.01 (σ_V,O² = √((1−p)/r)/d diverges as r → 0)`);
      if (c.activation !== 'relu') notes.push(`DeepScaleLM's rules assume ReLU; this config uses ${c.activation}`);
      break;
    }
    case 'admin': {
      const w = adminOmega(2 * N);
      xavierAll(c);
      c.skip = fill(N, w); c.branch = fill(N, 1);
      notes.push(`Admin ω = √((n+1)/ln(n+1) − 1) with n = 2·${N} = ${2 * N}: ω = ${w.toPrecision(5)}`);
      if (c.norm !== 'post') notes.push('Admin is defined for Post-LN; applied here to a Pre-LN config');
      break;
    }
    case 't-fixup': {
      const m = c.causal ? (9 * N) ** -0.25 : 0.67 * N ** -0.25;
      xavierAll(c);
      for (const key of ['v', 'o', 'ffn1', 'ffn2', 'ffn3'] as const) c.init[key] = c.init[key].map((s) => s * m);
      unit();
      notes.push(`T-Fixup ${c.causal ? 'decoder (9N)^{-1/4}' : 'encoder 0.67·N^{-1/4}'} = ${m.toPrecision(4)} on v, o, ffn`);
      notes.push('T-Fixup removes LayerNorm and scales the embeddings by (9N)^{-1/4}; config v1 keeps both, so this profile is T-Fixup weights inside a normalised model');
      break;
    }
  }
  return { config: c, notes };
}
