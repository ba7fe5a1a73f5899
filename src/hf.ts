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
 * Biases are zero and norm gains 1 at init in all three, as config v1 assumes.
 */
import { fail, isObject, num } from './errors.js';
import type { ActivationName, ConfigV1 } from './config.js';
import type { Moments } from './types.js';
import { embedding, collisionProbability } from '../formulas/embedding.js';
import { layernorm } from '../formulas/layernorm.js';
import { dropout as dropoutBlock } from '../formulas/dropout.js';
import { readJsonFile, str, type Args } from './args.js';

export const HF_FAMILIES = ['gpt2', 'bert', 'llama'] as const;
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
  const maxPos = field(json, family === 'gpt2' ? ['n_positions', 'n_ctx'] : ['max_position_embeddings'], 'maximum sequence length', { integer: true, min: 1, max: 1_048_576 });
  const dfltL = Math.min(maxPos, 1024);
  const seqLen = opts.seqLen ?? dfltL;
  if (opts.seqLen === undefined && maxPos > 1024) notes.push(`seqLen = 1024 (the model allows ${maxPos}; set --seq-len)`);
  if (family !== 'llama' && seqLen > maxPos) fail('--seq-len', `must be in [1, ${maxPos}] (learned position table of ${maxPos} rows), got ${seqLen}`);
  if (family === 'llama' && seqLen > maxPos) notes.push(`seqLen ${seqLen} exceeds max_position_embeddings ${maxPos} (rotary extrapolation; the moments at init do not depend on it)`);
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
      dropout: resid, causal: true, residual: { skip: 1, branch: 1 },
      init: { qk: init, v: init, o: cproj, ffn1: init, ffn2: cproj }, input: v1Input(input), finalNorm: true, eps,
    };
    notes.push(`GPT-2 init: c_attn, c_fc, wte, wpe ~ N(0, ${init}²); attn.c_proj and mlp.c_proj ~ N(0, (${init}/√(2·${N}) = ${cproj.toPrecision(4)})²)`);
    notes.push(`input = embedding (wte + wpe, var ${raw.var.toPrecision(4)}, r ${raw.r.toPrecision(3)})${embdP > 0 ? ` then embedding dropout p = ${embdP} (var ${input.var.toPrecision(4)})` : ''} — hidden_states[0]`);
    if (resid !== attnP) notes.push(`config v1 has one dropout rate: using resid_pdrop = ${resid} for the attention probabilities too (attn_pdrop = ${attnP})`);
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
      dropout: hid, causal: false, residual: { skip: 1, branch: 1 },
      init: { qk: init, v: init, o: init, ffn1: init, ffn2: init }, input: v1Input(input), finalNorm: false, eps,
    };
    notes.push(`BERT init: every Linear and the word/position/type embeddings ~ N(0, ${init}²) (BertPreTrainedModel._init_weights); Post-LN`);
    notes.push(`input = embedding LayerNorm(word + position + type) then dropout p = ${hid}, computed with the catalogue (embedding var ${raw.var.toPrecision(4)}, r ${raw.r.toPrecision(3)}; after LayerNorm var ${afterNorm.var.toPrecision(6)}; after dropout var ${input.var.toPrecision(4)}, r ${input.r.toPrecision(3)}) — hidden_states[0]`);
    notes.push('one segment (token type 0 everywhere) and no padding; the padding row (zeroed by _init_weights) is ignored');
    if (hid !== attnP) notes.push(`config v1 has one dropout rate: using hidden_dropout_prob = ${hid} for the attention probabilities too (attention_probs_dropout_prob = ${attnP})`);
  } else {
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
      dropout: attnP, causal: true, residual: { skip: 1, branch: 1 },
      init: { qk: init, v: init, o: init, ffn1: init, ffn2: init, ffn3: init }, input: v1Input(raw), finalNorm: true, eps,
    };
    notes.push(`LLaMA init: every Linear (q, k, v, o, gate, up, down) and embed_tokens ~ N(0, ${init}²); no output-projection scaling (LlamaPreTrainedModel._init_weights)`);
    notes.push(`input = embed_tokens (var ${raw.var.toPrecision(4)}, r ${raw.r.toPrecision(3)}), no embedding dropout — hidden_states[0]`);
    notes.push('rotary position embedding: rotates q and k by the same orthogonal map per position, so the variance of q·k and the softmax statistics at init are unchanged to first order; it is not modelled');
    if (kvh !== h) notes.push(`grouped-query attention (${kvh} key/value heads for ${h} query heads): heads that share K/V are correlated, but W_o's independent entries cancel the cross terms in expectation, so the moments are those of ${h} full heads`);
    if (attnP > 0) notes.push(`attention_dropout = ${attnP}: config v1 also applies it after the attention and FFN outputs (LLaMA has no hidden dropout) — approximation`);
    if (json.tie_word_embeddings === true) notes.push('tie_word_embeddings: the output head shares embed_tokens; it does not change the hidden-state moments');
    notes.push('hidden_states[-1] is after the final RMSNorm (finalNorm)');
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
