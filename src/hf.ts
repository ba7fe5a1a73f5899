/**
 * Hugging Face `config.json` import: the config v1 of a transformers model at its library's
 * default initialisation (as its `_init_weights` does it), with the input moments of its embedding
 * computed by the catalogue blocks (embedding → [LayerNorm] → [dropout]).
 *
 * Families (transformers defaults; per-layer alignment with `output_hidden_states`: entry 0 is the
 * embedding output, entry l the output of block l, and for GPT-2 / LLaMA the last entry is after
 * the final norm, which is config v1's `finalNorm`):
 *  - gpt2:  Pre-LN, gelu_new (= tanh GeLU), causal, every Linear/Conv1D and both embeddings
 *           N(0, initializer_range²), `c_proj` (attention output and MLP output) N(0, (initializer_range/√(2·n_layer))²),
 *           ln_f final norm, learned positions, embd/attn/resid dropout.
 *  - bert:  Post-LN, gelu (erf), word + position + token-type embeddings N(0, initializer_range²),
 *           embedding LayerNorm and dropout (hidden_states[0] is after them), layer_norm_eps.
 *  - llama: Pre-RMSNorm, SwiGLU (gate = ffn1, up = ffn3, down = ffn2), causal, rotary positions,
 *           no hidden dropout, final norm, every Linear and the token embedding N(0, initializer_range²).
 *  - opt:   Pre-LN (do_layer_norm_before; false, the 350m layout, is Post-LN without a final norm),
 *           activation_function (relu), causal, every Linear and both embeddings N(0, init_std²)
 *           (modeling_opt.py OPTPreTrainedModel._init_weights; the generic PreTrainedModel._init_weights of
 *           newer releases falls back to init_std too), learned positions (OPTLearnedPositionalEmbedding: ids
 *           offset by 2 into a table of max_position_embeddings + 2 rows, every row drawn alike, so the offset
 *           does not change the moments), no embedding dropout, final_layer_norm (unless
 *           _remove_final_layer_norm), `dropout` after the attention and fc2 outputs, attention_dropout on the
 *           probabilities, no dropout after the activation (activation_dropout is unused by OPTDecoderLayer).
 *           Refused: word_embed_proj_dim ≠ hidden_size (project_in/project_out change the width at both
 *           ends), layerdrop > 0 outside --eval (randomly skipped layers).
 *  - gpt_neox: Pre-LN with use_parallel_residual false only: true (the default, and Pythia's) computes
 *           x + attn(ln1(x)) + mlp(ln2(x)) — both branches read the same x — which config v1's sequential
 *           sub-layers cannot express, and the engine has no parallel form, so it is refused. hidden_act (gelu),
 *           causal, partial rotary (rotary_pct; not modelled, as for LLaMA), every Linear and embed_in
 *           N(0, initializer_range²), LayerNorm 1/0 (modeling_gpt_neox.py GPTNeoXPreTrainedModel._init_weights),
 *           hidden_dropout on the embedding and after the attention and MLP outputs, attention_dropout on the
 *           probabilities, no dropout after the activation, final_layer_norm.
 *  - t5:    the encoder stack only (T5Stack; modeling_t5.py T5PreTrainedModel._init_weights, f = initializer_factor):
 *           Pre-RMSNorm (T5LayerNorm: x/√(mean x² + eps), no mean, no bias = config v1 rmsnorm; its gain is
 *           initialised to f), feed_forward_proj relu / gelu / gelu_new / silu, or gated-silu (= SwiGLU:
 *           wi_0 = ffn1 (gate), wi_1 = ffn3, wo = ffn2), bidirectional, final_layer_norm, dropout_rate on the
 *           embedding and in config v1's four places (T5 has exactly those). Init: shared embedding N(0, f²),
 *           q N(0, f²/(d_model·d_kv)), k and v N(0, f²/d_model), o N(0, f²/(n_heads·d_kv)), wi (wi_0, wi_1)
 *           N(0, f²/d_model), wo N(0, f²/d_ff); T5 does NOT scale the scores by 1/√d_kv (Mesh TensorFlow folds it
 *           into q's init). Config v1 scores are x W_q W_kᵀ xᵀ/√d_h with one std σ for Q and K. Writing
 *           W_q = σ_q Z_q, W_k = σ_k Z_k (Z iid N(0, 1)), T5's score matrix is σ_q σ_k · x Z_q Z_kᵀ xᵀ and config
 *           v1's is (σ²/√d_h) · x Z_q Z_kᵀ xᵀ: the same random matrix when σ² = σ_q σ_k √d_kv (d_h = d_kv). So
 *           qk = √(σ_q σ_k √d_kv) (= f/√d_model) reproduces the scores exactly — in distribution, jointly with
 *           V and x, hence forward moments and the gradient to x too (only the gradients to W_q, W_k differ,
 *           which are not predicted). Refused: gated-gelu (GeGLU, gelu_new gate; config v1 gates with silu
 *           only) and other gated activations, n_heads·d_kv ≠ d_model (config v1's heads split d_model),
 *           initializer_factor ≠ 1 (T5LayerNorm gains f, config v1 norms have gain 1). Not modelled, with a
 *           quantified note: the relative position bias (one Embedding(buckets, n_heads) ~ N(0, f²/d_model),
 *           computed in layer 0 and added to every layer's scores) and the dropout after final_layer_norm.
 * Dropout: each family's rates go to config v1's three (`dropout` after the attention output and after
 * the FFN output, `attnDropout` on the attention probabilities, `actDropout` after the activation), all
 * set explicitly: gpt2 resid_pdrop / attn_pdrop / 0 (GPT2MLP: c_fc → act → c_proj → dropout), bert
 * hidden_dropout_prob / attention_probs_dropout_prob / 0 (BertIntermediate has none), llama 0 /
 * attention_dropout / 0, opt dropout / attention_dropout / 0 (activation_dropout is unused, see above),
 * gpt_neox hidden_dropout / attention_dropout / 0 (GPTNeoXMLP has none), t5 dropout_rate in all three
 * (T5DenseActDense and T5DenseGatedActDense drop after the activation / the product, before wo).
 * `--eval` sets all three to 0.
 * Biases are zero and norm gains 1 at init in all of them, as config v1 assumes.
 */
import { fail, isObject, num } from './errors.js';
import type { ActivationName, ConfigV1 } from './config.js';
import type { Moments } from './types.js';
import { embedding, collisionProbability } from '../formulas/embedding.js';
import { layernorm } from '../formulas/layernorm.js';
import { dropout as dropoutBlock } from '../formulas/dropout.js';
import { readJsonFile, str, type Args } from './args.js';

export const HF_FAMILIES = ['gpt2', 'bert', 'llama', 'opt', 'gpt_neox', 't5'] as const;
export type HfFamily = (typeof HF_FAMILIES)[number];

/** CLI flags understood by every command that accepts `--hf`. */
export const HF_FLAGS = ['hf', 'seq-len', 'tokens', 'eval'] as const;

export interface HfOptions {
  /** sequence length (default: the model's maximum positions, capped at 1024) */
  seqLen?: number;
  /** token id distribution for the embedding statistics */
  tokens?: 'uniform' | 'zipf';
  /** evaluation mode: every dropout off */
  eval?: boolean;
}

export interface HfEmbedding {
  vocab: number;
  tokenStd: number;
  posStd: number;
  typeStd: number;
  tokens: 'uniform' | 'zipf';
  /** collision probability q = Σ p_v² */
  collision: number;
  /** moments after the embedding tables, after the embedding LayerNorm (BERT) and after the embedding dropout */
  raw: Moments;
  afterNorm?: Moments;
  afterDropout?: Moments;
  /** what config v1 `input` is set to */
  input: Moments;
}

export interface HfImport { family: HfFamily; config: ConfigV1; notes: string[]; embedding: HfEmbedding }

function field(j: Record<string, unknown>, keys: string[], what: string, opts: { integer?: boolean; min?: number; max?: number; dflt?: number } = {}): number {
  for (const k of keys) {
    const v = j[k];
    if (v !== undefined && v !== null) return num(v, `hf.${k}`, { integer: opts.integer, min: opts.min, max: opts.max });
  }
  if (opts.dflt !== undefined) return opts.dflt;
  fail(`hf.${keys[0]}`, `is required (${what})`);
}

function activationOf(name: unknown, fieldName: string): ActivationName {
  const map: Record<string, ActivationName> = {
    gelu: 'gelu', gelu_new: 'gelu_tanh', gelu_pytorch_tanh: 'gelu_tanh', gelu_fast: 'gelu_tanh', relu: 'relu', silu: 'silu', swish: 'silu',
  };
  if (typeof name !== 'string' || !(name in map)) fail(`hf.${fieldName}`, `unsupported activation ${JSON.stringify(name)} (one of ${Object.keys(map).join(', ')})`);
  return map[name];
}

/** Where each family reads its maximum length, and whether positions are a learned table (a hard limit). */
const POSITIONS: Record<HfFamily, { keys: string[]; learned: boolean; dflt?: number; kind?: string }> = {
  gpt2: { keys: ['n_positions', 'n_ctx'], learned: true },
  bert: { keys: ['max_position_embeddings'], learned: true },
  llama: { keys: ['max_position_embeddings'], learned: false, kind: 'rotary extrapolation' },
  opt: { keys: ['max_position_embeddings'], learned: true, dflt: 2048 },
  gpt_neox: { keys: ['max_position_embeddings'], learned: false, dflt: 2048, kind: 'rotary extrapolation' },
  t5: { keys: ['n_positions'], learned: false, dflt: 512, kind: 'relative position buckets' },
};

function flag(j: Record<string, unknown>, key: string, dflt: boolean): boolean {
  const v = j[key];
  if (v === undefined || v === null) return dflt;
  if (typeof v !== 'boolean') fail(`hf.${key}`, `must be true or false, got ${JSON.stringify(v)}`);
  return v;
}

/** Config v1's three dropout rates: `dropout` after the attention and FFN outputs (the residual
 * branches), `attnDropout` on the attention probabilities, `actDropout` after the activation. */
function rates(resid: number, attn: number, act: number): Pick<ConfigV1, 'dropout' | 'attnDropout' | 'actDropout'> {
  return { dropout: resid, attnDropout: attn, actDropout: act };
}

/** One note saying where the family drops, with which rate (all exact: config v1 has the three places). */
function dropoutNote(attn: [string, number], resid: [string, number], act: string): string {
  return `dropout: ${attn[0]} = ${attn[1]} on the attention probabilities (attnDropout), ${resid[0]} = ${resid[1]} after the attention and FFN outputs (dropout), ${act} after the activation (actDropout)`;
}

/** Convert a transformers config.json (parsed JSON) to config v1 + notes + embedding statistics. */
export function hfToConfig(json: unknown, opts: HfOptions = {}): HfImport {
  if (!isObject(json)) fail('hf', 'must be a transformers config.json object');
  const mt = json.model_type;
  if (typeof mt !== 'string' || !(HF_FAMILIES as readonly string[]).includes(mt)) {
    fail('hf.model_type', `unsupported model family ${JSON.stringify(mt)} (supported: ${HF_FAMILIES.join(', ')})`);
  }
  const family = mt as HfFamily;
  const notes: string[] = [];
  const tokens = opts.tokens ?? 'uniform';
  const init = field(json, ['initializer_range'], 'weight init std', { min: 0, dflt: 0.02 });
  const vocab = field(json, ['vocab_size'], 'vocabulary size', { integer: true, min: 1, max: 100_000_000 });
  const pos = POSITIONS[family];
  const maxPos = field(json, pos.keys, 'maximum sequence length', { integer: true, min: 1, max: 1_048_576, dflt: pos.dflt });
  const dfltL = Math.min(maxPos, 1024);
  const seqLen = opts.seqLen ?? dfltL;
  if (opts.seqLen === undefined && maxPos > 1024) notes.push(`seqLen = 1024 (the model allows ${maxPos}; set --seq-len)`);
  if (pos.learned && seqLen > maxPos) fail('--seq-len', `must be in [1, ${maxPos}] (learned position table of ${maxPos} rows), got ${seqLen}`);
  if (!pos.learned && seqLen > maxPos) notes.push(`seqLen ${seqLen} exceeds ${pos.keys[0]} ${maxPos} (${pos.kind}; the moments at init do not depend on it)`);
  const evalMode = opts.eval === true;
  if (evalMode) notes.push('--eval: every dropout is off');
  const q = collisionProbability(vocab, tokens);
  let cfg: ConfigV1;
  let emb: HfEmbedding;
  const embed = (tokenStd: number, posStd: number, typeStd: number) => embedding.forward({ vocab, std: tokenStd, posStd, typeStd, tokens }, { mean: 0, var: 0, r: 0 }).out;
  const drop = (x: Moments, p: number) => (p > 0 ? dropoutBlock.forward({ p }, x).out : x);

  if (family === 'gpt2') {
    const N = field(json, ['n_layer'], 'number of blocks', { integer: true, min: 1 });
    const d = field(json, ['n_embd'], 'width', { integer: true, min: 3 });
    const h = field(json, ['n_head'], 'heads', { integer: true, min: 1 });
    const dFF = field(json, ['n_inner'], 'MLP width', { integer: true, min: 1, dflt: 4 * d });
    const resid = evalMode ? 0 : field(json, ['resid_pdrop'], 'residual dropout', { min: 0, max: 0.999, dflt: 0.1 });
    const attnP = evalMode ? 0 : field(json, ['attn_pdrop'], 'attention dropout', { min: 0, max: 0.999, dflt: 0.1 });
    const embdP = evalMode ? 0 : field(json, ['embd_pdrop'], 'embedding dropout', { min: 0, max: 0.999, dflt: 0.1 });
    const eps = field(json, ['layer_norm_epsilon'], 'LayerNorm eps', { min: 0, max: 1, dflt: 1e-5 });
    const act = activationOf(json.activation_function ?? 'gelu_new', 'activation_function');
    const cproj = init / Math.sqrt(2 * N);
    const raw = embed(init, init, 0);
    const input = drop(raw, embdP);
    emb = { vocab, tokenStd: init, posStd: init, typeStd: 0, tokens, collision: q, raw, afterDropout: embdP > 0 ? input : undefined, input };
    cfg = {
      name: `${json._name_or_path ?? 'gpt2'} (HF import)`, layers: N, dModel: d, heads: h, dFF, seqLen, norm: 'pre', normKind: 'layernorm', activation: act,
      ...rates(resid, attnP, 0), causal: true, residual: { skip: 1, branch: 1 },
      init: { qk: init, v: init, o: cproj, ffn1: init, ffn2: cproj }, input: v1Input(input), finalNorm: true, eps,
    };
    notes.push(`GPT-2 init: c_attn, c_fc, wte, wpe ~ N(0, ${init}²); attn.c_proj and mlp.c_proj ~ N(0, (${init}/√(2·${N}) = ${cproj.toPrecision(4)})²)`);
    notes.push(`input = embedding (wte + wpe, var ${raw.var.toPrecision(4)}, r ${raw.r.toPrecision(3)})${embdP > 0 ? ` then embedding dropout p = ${embdP} (var ${input.var.toPrecision(4)})` : ''} — hidden_states[0]`);
    notes.push(dropoutNote(['attn_pdrop', attnP], ['resid_pdrop', resid], 'none (GPT2MLP: c_fc → act → c_proj → dropout)'));
    notes.push('hidden_states[-1] is after ln_f (finalNorm); the backward signal is an iid unit-variance gradient at last_hidden_state');
  } else if (family === 'bert') {
    const N = field(json, ['num_hidden_layers'], 'number of layers', { integer: true, min: 1 });
    const d = field(json, ['hidden_size'], 'width', { integer: true, min: 3 });
    const h = field(json, ['num_attention_heads'], 'heads', { integer: true, min: 1 });
    const dFF = field(json, ['intermediate_size'], 'FFN width', { integer: true, min: 1, dflt: 4 * d });
    const hid = evalMode ? 0 : field(json, ['hidden_dropout_prob'], 'hidden dropout', { min: 0, max: 0.999, dflt: 0.1 });
    const attnP = evalMode ? 0 : field(json, ['attention_probs_dropout_prob'], 'attention dropout', { min: 0, max: 0.999, dflt: 0.1 });
    const eps = field(json, ['layer_norm_eps'], 'LayerNorm eps', { min: 0, max: 1, dflt: 1e-12 });
    const types = field(json, ['type_vocab_size'], 'token types', { integer: true, min: 0, dflt: 2 });
    const act = activationOf(json.hidden_act ?? 'gelu', 'hidden_act');
    if (json.position_embedding_type !== undefined && json.position_embedding_type !== 'absolute') notes.push(`position_embedding_type ${JSON.stringify(json.position_embedding_type)}: treated as absolute (learned table)`);
    const raw = embed(init, init, types > 0 ? init : 0);
    const afterNorm = layernorm.forward({ d, eps }, raw).out;
    const input = drop(afterNorm, hid);
    emb = { vocab, tokenStd: init, posStd: init, typeStd: types > 0 ? init : 0, tokens, collision: q, raw, afterNorm, afterDropout: hid > 0 ? input : undefined, input };
    cfg = {
      name: `${json._name_or_path ?? 'bert'} (HF import)`, layers: N, dModel: d, heads: h, dFF, seqLen, norm: 'post', normKind: 'layernorm', activation: act,
      ...rates(hid, attnP, 0), causal: false, residual: { skip: 1, branch: 1 },
      init: { qk: init, v: init, o: init, ffn1: init, ffn2: init }, input: v1Input(input), finalNorm: false, eps,
    };
    notes.push(`BERT init: every Linear and the word/position/type embeddings ~ N(0, ${init}²) (BertPreTrainedModel._init_weights); Post-LN`);
    notes.push(`input = embedding LayerNorm(word + position + type) then dropout p = ${hid}, computed with the catalogue (embedding var ${raw.var.toPrecision(4)}, r ${raw.r.toPrecision(3)}; after LayerNorm var ${afterNorm.var.toPrecision(6)}; after dropout var ${input.var.toPrecision(4)}, r ${input.r.toPrecision(3)}) — hidden_states[0]`);
    notes.push('one segment (token type 0 everywhere) and no padding; the padding row (zeroed by _init_weights) is ignored');
    notes.push(dropoutNote(['attention_probs_dropout_prob', attnP], ['hidden_dropout_prob', hid], 'none (BertIntermediate: dense → act; BertOutput drops after its dense)'));
  } else if (family === 'llama') {
    const N = field(json, ['num_hidden_layers'], 'number of layers', { integer: true, min: 1 });
    const d = field(json, ['hidden_size'], 'width', { integer: true, min: 2 });
    const h = field(json, ['num_attention_heads'], 'heads', { integer: true, min: 1 });
    const kvh = field(json, ['num_key_value_heads'], 'key/value heads', { integer: true, min: 1, dflt: h });
    const dFF = field(json, ['intermediate_size'], 'MLP width', { integer: true, min: 1 });
    const eps = field(json, ['rms_norm_eps'], 'RMSNorm eps', { min: 0, max: 1, dflt: 1e-6 });
    const attnP = evalMode ? 0 : field(json, ['attention_dropout'], 'attention dropout', { min: 0, max: 0.999, dflt: 0 });
    const act = json.hidden_act ?? 'silu';
    if (act !== 'silu' && act !== 'swish') fail('hf.hidden_act', `LLaMA import supports silu (SwiGLU), got ${JSON.stringify(act)}`);
    const raw = embed(init, 0, 0);
    emb = { vocab, tokenStd: init, posStd: 0, typeStd: 0, tokens, collision: q, raw, input: raw };
    cfg = {
      name: `${json._name_or_path ?? 'llama'} (HF import)`, layers: N, dModel: d, heads: h, dFF, seqLen, norm: 'pre', normKind: 'rmsnorm', activation: 'swiglu',
      ...rates(0, attnP, 0), causal: true, residual: { skip: 1, branch: 1 },
      init: { qk: init, v: init, o: init, ffn1: init, ffn2: init, ffn3: init }, input: v1Input(raw), finalNorm: true, eps,
    };
    notes.push(`LLaMA init: every Linear (q, k, v, o, gate, up, down) and embed_tokens ~ N(0, ${init}²); no output-projection scaling (LlamaPreTrainedModel._init_weights)`);
    notes.push(`input = embed_tokens (var ${raw.var.toPrecision(4)}, r ${raw.r.toPrecision(3)}), no embedding dropout — hidden_states[0]`);
    notes.push('rotary position embedding: rotates q and k by the same orthogonal map per position, so the variance of q·k and the softmax statistics at init are unchanged to first order; it is not modelled');
    if (kvh !== h) notes.push(`grouped-query attention (${kvh} key/value heads for ${h} query heads): heads that share K/V are correlated, but W_o's independent entries cancel the cross terms in expectation, so the moments are those of ${h} full heads`);
    if (attnP > 0) notes.push(`dropout: attention_dropout = ${attnP} on the attention probabilities (attnDropout) only; LLaMA has no hidden or activation dropout (dropout = actDropout = 0)`);
    if (json.tie_word_embeddings === true) notes.push('tie_word_embeddings: the output head shares embed_tokens; it does not change the hidden-state moments');
    notes.push('hidden_states[-1] is after the final RMSNorm (finalNorm)');
  } else if (family === 'opt') {
    const N = field(json, ['num_hidden_layers'], 'number of layers', { integer: true, min: 1 });
    const d = field(json, ['hidden_size', 'd_model'], 'width', { integer: true, min: 4 });
    const h = field(json, ['num_attention_heads'], 'heads', { integer: true, min: 1 });
    const dFF = field(json, ['ffn_dim'], 'FFN width', { integer: true, min: 1, dflt: 3072 });
    const proj = field(json, ['word_embed_proj_dim'], 'embedding width', { integer: true, min: 1, dflt: d });
    if (proj !== d) fail('hf.word_embed_proj_dim', `${proj} differs from hidden_size ${d}: OPT then adds project_in (${proj}→${d}) after the embedding and project_out (${d}→${proj}) after the last layer, and config v1 has one width; supported: word_embed_proj_dim = hidden_size`);
    const std = field(json, ['init_std'], 'weight init std', { min: 0, dflt: 0.02 });
    const preLN = flag(json, 'do_layer_norm_before', true);
    const finalNorm = preLN && !flag(json, '_remove_final_layer_norm', false);
    const layerdrop = field(json, ['layerdrop'], 'LayerDrop probability', { min: 0, max: 1, dflt: 0 });
    if (layerdrop > 0 && !evalMode) fail('hf.layerdrop', `LayerDrop ${layerdrop} skips whole layers at random in training, which config v1 cannot represent; supported: 0, or --eval (no LayerDrop at inference)`);
    const hid = evalMode ? 0 : field(json, ['dropout'], 'dropout', { min: 0, max: 0.999, dflt: 0.1 });
    const attnP = evalMode ? 0 : field(json, ['attention_dropout'], 'attention dropout', { min: 0, max: 0.999, dflt: 0 });
    const actP = field(json, ['activation_dropout'], 'activation dropout', { min: 0, max: 0.999, dflt: 0 });
    const act = activationOf(json.activation_function ?? 'relu', 'activation_function');
    const raw = embed(std, std, 0);
    emb = { vocab, tokenStd: std, posStd: std, typeStd: 0, tokens, collision: q, raw, input: raw };
    cfg = {
      name: `${json._name_or_path ?? 'opt'} (HF import)`, layers: N, dModel: d, heads: h, dFF, seqLen, norm: preLN ? 'pre' : 'post', normKind: 'layernorm', activation: act,
      ...rates(hid, attnP, 0), causal: true, residual: { skip: 1, branch: 1 },
      init: { qk: std, v: std, o: std, ffn1: std, ffn2: std }, input: v1Input(raw), finalNorm, eps: 1e-5,
    };
    notes.push(`OPT init: every Linear (q, k, v, out_proj, fc1, fc2), embed_tokens and embed_positions ~ N(0, ${std}²) (init_std; OPTPreTrainedModel._init_weights); ${preLN ? 'Pre-LN' : 'Post-LN (do_layer_norm_before false)'}, LayerNorm eps 1e-5`);
    notes.push(`input = embed_tokens + embed_positions (var ${raw.var.toPrecision(4)}, r ${raw.r.toPrecision(3)}), no embedding dropout — hidden_states[0]; the position ids are offset by 2 into a table of ${maxPos} + 2 rows drawn alike (no effect on the moments); the padding row is ignored`);
    notes.push(dropoutNote(['attention_dropout', attnP], ['dropout', hid], 'none (fc1 → act → fc2 → dropout)'));
    if (actP > 0) notes.push(`activation_dropout = ${actP} is not used by transformers' OPTDecoderLayer (fc1 → act → fc2): ignored`);
    if (json.initializer_range !== undefined && json.initializer_range !== std) notes.push(`the config also has initializer_range = ${JSON.stringify(json.initializer_range)}: OPTConfig's field is init_std, used here`);
    notes.push(finalNorm ? 'hidden_states[-1] is after the decoder final_layer_norm (finalNorm)' : `no final norm (${preLN ? '_remove_final_layer_norm' : 'do_layer_norm_before false'}): hidden_states[-1] is the last layer's output`);
  } else if (family === 'gpt_neox') {
    const N = field(json, ['num_hidden_layers'], 'number of layers', { integer: true, min: 1 });
    const d = field(json, ['hidden_size'], 'width', { integer: true, min: 4 });
    const h = field(json, ['num_attention_heads'], 'heads', { integer: true, min: 1 });
    const dFF = field(json, ['intermediate_size'], 'MLP width', { integer: true, min: 1 });
    if (flag(json, 'use_parallel_residual', true)) fail('hf.use_parallel_residual', `true${json.use_parallel_residual === undefined ? ' (the GPTNeoXConfig default)' : ''} computes x + attn(ln1(x)) + mlp(ln2(x)) with both branches reading the same x; config v1 (and the engine) has sequential sub-layers only, x ← x + attn(ln1(x)); x ← x + mlp(ln2(x)); supported: use_parallel_residual false`);
    const eps = field(json, ['layer_norm_eps'], 'LayerNorm eps', { min: 0, max: 1, dflt: 1e-5 });
    const hid = evalMode ? 0 : field(json, ['hidden_dropout'], 'hidden dropout', { min: 0, max: 0.999, dflt: 0 });
    const attnP = evalMode ? 0 : field(json, ['attention_dropout'], 'attention dropout', { min: 0, max: 0.999, dflt: 0 });
    const rotPct = field(json, ['rotary_pct', 'partial_rotary_factor'], 'rotary fraction', { min: 0, max: 1, dflt: 0.25 });
    const act = activationOf(json.hidden_act ?? 'gelu', 'hidden_act');
    const raw = embed(init, 0, 0);
    const input = drop(raw, hid);
    emb = { vocab, tokenStd: init, posStd: 0, typeStd: 0, tokens, collision: q, raw, afterDropout: hid > 0 ? input : undefined, input };
    cfg = {
      name: `${json._name_or_path ?? 'gpt_neox'} (HF import)`, layers: N, dModel: d, heads: h, dFF, seqLen, norm: 'pre', normKind: 'layernorm', activation: act,
      ...rates(hid, attnP, 0), causal: true, residual: { skip: 1, branch: 1 },
      init: { qk: init, v: init, o: init, ffn1: init, ffn2: init }, input: v1Input(input), finalNorm: true, eps,
    };
    notes.push(`GPT-NeoX init: every Linear (query_key_value, dense, dense_h_to_4h, dense_4h_to_h) and embed_in ~ N(0, ${init}²), no output-projection scaling (GPTNeoXPreTrainedModel._init_weights); sequential residual (use_parallel_residual false)`);
    notes.push(`input = embed_in (var ${raw.var.toPrecision(4)}, r ${raw.r.toPrecision(3)})${hid > 0 ? ` then emb_dropout p = ${hid} (var ${input.var.toPrecision(4)})` : ', no embedding dropout'} — hidden_states[0]`);
    notes.push(`partial rotary position embedding (rotary_pct = ${rotPct} of each head's dimensions): rotates q and k by the same orthogonal map per position, so the variance of q·k and the softmax statistics at init are unchanged to first order; it is not modelled`);
    notes.push(dropoutNote(['attention_dropout', attnP], ['hidden_dropout', hid], 'none (GPTNeoXMLP: dense_h_to_4h → act → dense_4h_to_h)'));
    notes.push('hidden_states[-1] is after final_layer_norm (finalNorm)');
  } else {
    const N = field(json, ['num_layers', 'num_hidden_layers'], 'number of encoder layers', { integer: true, min: 1 });
    const d = field(json, ['d_model', 'hidden_size'], 'width', { integer: true, min: 3 });
    const h = field(json, ['num_heads', 'num_attention_heads'], 'heads', { integer: true, min: 1 });
    const dKV = field(json, ['d_kv'], 'key/value width per head', { integer: true, min: 1, dflt: 64 });
    if (h * dKV !== d) fail('hf.d_kv', `num_heads·d_kv = ${h}·${dKV} = ${h * dKV} differs from d_model ${d}: T5's attention then has an inner width ≠ d_model, and config v1's heads split d_model (d_h = d_model/heads); supported: num_heads·d_kv = d_model`);
    const dFF = field(json, ['d_ff'], 'FFN width', { integer: true, min: 1, dflt: 2048 });
    const f = field(json, ['initializer_factor'], 'init factor', { min: 0, dflt: 1 });
    if (f !== 1) fail('hf.initializer_factor', `must be 1, got ${f}: T5PreTrainedModel._init_weights sets every T5LayerNorm gain to initializer_factor and config v1 norms have gain 1`);
    const eps = field(json, ['layer_norm_epsilon'], 'RMSNorm eps', { min: 0, max: 1, dflt: 1e-6 });
    const p = evalMode ? 0 : field(json, ['dropout_rate'], 'dropout', { min: 0, max: 0.999, dflt: 0.1 });
    const ffp = json.feed_forward_proj ?? 'relu';
    const parts = typeof ffp === 'string' ? ffp.split('-') : [];
    const gated = parts[0] === 'gated';
    if (parts.length === 0 || parts.length > 2 || (parts.length === 2 && !gated)) fail('hf.feed_forward_proj', `must be "ACT" or "gated-ACT" (transformers T5Config), got ${JSON.stringify(ffp)}`);
    const actName = parts[parts.length - 1];
    if (gated && actName !== 'silu' && actName !== 'swish') fail('hf.feed_forward_proj', `${JSON.stringify(ffp)} is ${actName === 'gelu' ? 'GeGLU, gelu_new(x·wi_0) ⊙ (x·wi_1) (T5Config maps gated-gelu to gelu_new)' : `a ${actName}-gated FFN`}; config v1's gated FFN is SwiGLU (silu gate) only; supported: relu, gelu, gelu_new, silu, gated-silu`);
    const act: ActivationName = gated ? 'swiglu' : activationOf(actName, 'feed_forward_proj');
    const sq = f / Math.sqrt(d * dKV), sk = f / Math.sqrt(d), sv = f / Math.sqrt(d), so = f / Math.sqrt(h * dKV);
    const swi = f / Math.sqrt(d), swo = f / Math.sqrt(dFF);
    const qk = Math.sqrt(sq * sk * Math.sqrt(dKV));
    const raw = embed(f, 0, 0);
    const input = drop(raw, p);
    emb = { vocab, tokenStd: f, posStd: 0, typeStd: 0, tokens, collision: q, raw, afterDropout: p > 0 ? input : undefined, input };
    cfg = {
      name: `${json._name_or_path ?? 't5'} encoder (HF import)`, layers: N, dModel: d, heads: h, dFF, seqLen, norm: 'pre', normKind: 'rmsnorm', activation: act,
      ...rates(p, p, p), causal: false, residual: { skip: 1, branch: 1 },
      init: { qk, v: sv, o: so, ffn1: swi, ffn2: swo, ...(gated ? { ffn3: swi } : {}) }, input: v1Input(input), finalNorm: true, eps,
    };
    notes.push(`T5 encoder (T5Stack; the decoder is not described). Init (T5PreTrainedModel._init_weights, initializer_factor ${f}): q ~ N(0, (${f}/√(${d}·${dKV}))²), k, v ~ N(0, (${f}/√${d})²), o ~ N(0, (${f}/√(${h}·${dKV}))²), ${gated ? 'wi_0, wi_1' : 'wi'} ~ N(0, (${f}/√${d})²), wo ~ N(0, (${f}/√${dFF})²), shared embedding ~ N(0, ${f}²)`);
    notes.push(`T5 does not scale the scores by 1/√d_kv; config v1 does and uses one std for Q and K. The score matrix is σ_q σ_k · x Z_q Z_kᵀ xᵀ in T5 and (σ²/√d_kv) · x Z_q Z_kᵀ xᵀ in config v1 (Z iid N(0, 1)), so qk = √(σ_q σ_k √d_kv) = ${qk.toPrecision(6)} gives the same scores exactly (in distribution, with the forward moments and the gradient to x)`);
    notes.push(`input = shared embedding (var ${raw.var.toPrecision(4)}, r ${raw.r.toPrecision(3)})${p > 0 ? ` then dropout p = ${p} (var ${input.var.toPrecision(4)}, r ${input.r.toPrecision(3)})` : ''} — hidden_states[0]; no absolute positions`);
    // f = 1 here: the content score variance is d_kv·(d σ_q²)(d σ_k²) = 1 per unit-variance (RMS-normalised) input,
    // of which a fraction (1 − r) varies along a row; the bias adds 1/d_model to every logit.
    const buckets = field(json, ['relative_attention_num_buckets'], 'position buckets', { integer: true, min: 1, dflt: 32 });
    const rMax = 1 - 100 / d;
    notes.push(`relative position bias not modelled: one Embedding(${buckets} buckets, ${h} heads) ~ N(0, 1/${d}), computed in layer 0 and added to every layer's scores, adds logit variance 1/d_model = ${(1 / d).toPrecision(3)} to the content logits' (1 − r)·1 along a row: ${(100 / d).toPrecision(2)} % of it at r = 0${rMax > 0 ? `, below 1 % while r < ${rMax.toFixed(3)}` : ''}`);
    if (p > 0) notes.push(`T5Stack applies dropout p = ${p} after final_layer_norm too: last_hidden_state has var 1/(1 − p) = ${(1 / (1 - p)).toFixed(3)}× entry ${N} and r × (1 − p), and every gradVar is ${(1 / (1 - p)).toFixed(3)}× the reported one (the unit gradient at last_hidden_state passes that dropout) — --eval is exact`);
    notes.push(`entry ${N} is after final_layer_norm (finalNorm)${p > 0 ? '; hidden_states[-1] is after that dropout as well (see above)' : ' = hidden_states[-1]'}`);
  }
  if (tokens === 'zipf') notes.push(`token ids ~ Zipf(1) over ${vocab} ids: collision probability q = ${q.toPrecision(4)} (uniform would be ${(1 / vocab).toPrecision(4)})`);
  return { family, config: cfg, notes, embedding: emb };
}

/** CLI helper: read `--hf FILE [--seq-len L] [--tokens uniform|zipf] [--eval]`, or undefined without --hf. */
export function hfFromArgs(a: Args): HfImport | undefined {
  const path = str(a, 'hf');
  if (path === undefined) {
    for (const k of ['seq-len', 'tokens', 'eval']) if (a.flags[k] !== undefined) fail(`--${k}`, 'only applies with --hf config.json');
    return undefined;
  }
  const sl = str(a, 'seq-len');
  let seqLen: number | undefined;
  if (sl !== undefined) {
    seqLen = Number(sl);
    if (!Number.isInteger(seqLen) || seqLen < 1 || seqLen > 65_536) fail('--seq-len', `must be an integer in [1, 65536], got ${sl}`);
  }
  const tk = str(a, 'tokens');
  if (tk !== undefined && tk !== 'uniform' && tk !== 'zipf') fail('--tokens', `must be one of uniform, zipf, got ${tk}`);
  return hfToConfig(readJsonFile(path, '--hf'), { seqLen, tokens: tk as 'uniform' | 'zipf' | undefined, eval: a.flags.eval === true });
}

/** config v1 `input` holds mean, var and r only (the engine derives its own per-token state). */
function v1Input(m: Moments): Moments {
  return { mean: m.mean, var: m.var, r: m.r };
}
