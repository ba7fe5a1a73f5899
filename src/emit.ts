/**
 * Code export: a short, runnable snippet that applies a config's init stds and residual
 * multipliers (config v1 `init`, `residual`) to a model.
 *
 * Naming convention (all three targets): block l (0-based, l = 0..N−1) holds the linear maps
 *   attn.q, attn.k, attn.v, attn.o   (d → d)
 *   ffn.w1 (d → dFF), ffn.w2 (dFF → d), and ffn.w3 (d → dFF, SwiGLU "up" projection)
 * and two floats skip (λ) and branch (β) that its forward uses exactly as config v1:
 *   Pre-LN:  x = skip·x + branch·Attn(Norm(x));  x = skip·x + branch·FFN(Norm(x))
 *   Post-LN: x = Norm(skip·x + branch·Attn(x));  x = Norm(skip·x + branch·FFN(x))
 * Weights are N(0, std²), biases zero, norm gains 1 (what the predictions assume). With dropout, the
 * header names its three rates and places (config v1 `attnDropout`, `dropout`, `actDropout`).
 */
import type { ResolvedConfig } from './config.js';
import { fail } from './errors.js';

export const EMIT_TARGETS = ['pytorch', 'jax', 'tfjs'] as const;
export type EmitTarget = (typeof EMIT_TARGETS)[number];

const n8 = (x: number) => Number(x.toPrecision(8)).toString();

function pyList(a: number[]): string {
  if (a.every((x) => x === a[0])) return `[${n8(a[0])}] * N`;
  return `[${a.map(n8).join(', ')}]`;
}
function jsList(a: number[]): string {
  if (a.every((x) => x === a[0])) return `new Array(N).fill(${n8(a[0])})`;
  return `[${a.map(n8).join(', ')}]`;
}

function header(c: ResolvedConfig, comment: string): string {
  const form = c.norm === 'pre'
    ? 'Pre-LN: x = skip*x + branch*F(norm(x)) for F = attention, then FFN'
    : 'Post-LN: x = norm(skip*x + branch*F(x)) for F = attention, then FFN';
  return [
    `${comment} signal-moments init for ${c.name ? JSON.stringify(c.name) : 'this config'}: ${c.layers} layers, d=${c.dModel}, heads=${c.heads}, dFF=${c.dFF}, ${c.norm}-${c.normKind}, ${c.activation}`,
    `${comment} Block l holds linear maps attn.q, attn.k, attn.v, attn.o, ffn.w1, ffn.w2${c.activation === 'swiglu' ? ', ffn.w3 (SwiGLU up)' : ''}; weights N(0, std^2), biases 0.`,
    `${comment} The block forward must use the multipliers: ${form}.`,
    ...(c.dropout > 0 || c.attnDropout > 0 || c.actDropout > 0
      ? [`${comment} Predicted with training-mode dropout p=${n8(c.attnDropout)} on the attention probabilities, p=${n8(c.dropout)} after attn.o and after ffn.w2, p=${n8(c.actDropout)} after the ${c.activation === 'swiglu' ? 'SwiGLU product' : 'activation'}.`]
      : []),
  ].join('\n');
}

function keys(c: ResolvedConfig): [string, string, number[]][] {
  const k: [string, string, number[]][] = [
    ['attn.q', 'q', c.init.qk], ['attn.k', 'k', c.init.qk], ['attn.v', 'v', c.init.v], ['attn.o', 'o', c.init.o],
    ['ffn.w1', 'w1', c.init.ffn1], ['ffn.w2', 'w2', c.init.ffn2],
  ];
  if (c.activation === 'swiglu') k.push(['ffn.w3', 'w3', c.init.ffn3]);
  return k;
}

export function emitPytorch(c: ResolvedConfig): string {
  const ks = keys(c);
  return `${header(c, '#')}
import torch
from torch import nn

N = ${c.layers}
STD = {
${ks.map(([, k, a]) => `    "${k}": ${pyList(a)},`).join('\n')}
}
SKIP = ${pyList(c.skip)}
BRANCH = ${pyList(c.branch)}
PATHS = {${ks.map(([p, k]) => `"${p}": "${k}"`).join(', ')}}


@torch.no_grad()
def apply_init(model: nn.Module, blocks_attr: str = "layers") -> None:
    """Initialise model.<blocks_attr>[l] (N blocks) and set blk.skip / blk.branch."""
    blocks = getattr(model, blocks_attr)
    if len(blocks) != N:
        raise ValueError(f"expected {N} blocks, got {len(blocks)}")
    for l, blk in enumerate(blocks):
        for path, key in PATHS.items():
            lin = blk.get_submodule(path)
            nn.init.normal_(lin.weight, mean=0.0, std=STD[key][l])
            if lin.bias is not None:
                nn.init.zeros_(lin.bias)
        blk.skip = float(SKIP[l])
        blk.branch = float(BRANCH[l])
`;
}

export function emitJax(c: ResolvedConfig): string {
  const ks = keys(c);
  const shape = (k: string) => (k === 'w1' || k === 'w3' ? '(D, DFF)' : k === 'w2' ? '(DFF, D)' : '(D, D)');
  return `${header(c, '#')}
# Kernels are (fan_in, fan_out) as in flax.linen.Dense; params["layers"][l]["attn"]["q"]["kernel"] etc.
import jax

N, D, DFF = ${c.layers}, ${c.dModel}, ${c.dFF}
STD = {
${ks.map(([, k, a]) => `    "${k}": ${pyList(a)},`).join('\n')}
}
SKIP = ${pyList(c.skip)}
BRANCH = ${pyList(c.branch)}
SHAPES = {${ks.map(([, k]) => `"${k}": ${shape(k)}`).join(', ')}}
GROUP = {${ks.map(([p, k]) => `"${k}": "${p.split('.')[0]}"`).join(', ')}}


def init_params(key: jax.Array) -> dict:
    """Weights N(0, std^2) per layer (seeded by key), zero biases, and the residual multipliers."""
    layers = []
    for l in range(N):
        layer = {"attn": {}, "ffn": {}, "skip": SKIP[l], "branch": BRANCH[l]}
        for name, shape in SHAPES.items():
            key, sub = jax.random.split(key)
            layer[GROUP[name]][name] = {
                "kernel": STD[name][l] * jax.random.normal(sub, shape),
                "bias": jax.numpy.zeros(shape[1]),
            }
        layers.append(layer)
    return {"layers": layers}
`;
}

export function emitTfjs(c: ResolvedConfig): string {
  const ks = keys(c);
  const shape = (k: string) => (k === 'w1' || k === 'w3' ? '[D, DFF]' : k === 'w2' ? '[DFF, D]' : '[D, D]');
  return `${header(c, '//')}
// Weights are [fan_in, fan_out] (tf.layers.dense kernels); seeded per layer and matrix.
import * as tf from '@tensorflow/tfjs';

const N = ${c.layers}, D = ${c.dModel}, DFF = ${c.dFF};
const STD = {
${ks.map(([, k, a]) => `  ${k}: ${jsList(a)},`).join('\n')}
};
const SKIP = ${jsList(c.skip)};
const BRANCH = ${jsList(c.branch)};
const SHAPES = { ${ks.map(([, k]) => `${k}: ${shape(k)}`).join(', ')} };

/** Per layer: { q, k, v, o, w1, w2${c.activation === 'swiglu' ? ', w3' : ''}: {kernel, bias}, skip, branch }. */
export function initWeights(seed = 0) {
  return Array.from({ length: N }, (_, l) => {
    const layer = { skip: SKIP[l], branch: BRANCH[l] };
    Object.entries(SHAPES).forEach(([name, shape], i) => {
      layer[name] = {
        kernel: tf.randomNormal(shape, 0, STD[name][l], 'float32', seed + 16 * l + i),
        bias: tf.zeros([shape[1]]),
      };
    });
    return layer;
  });
}
`;
}

export function emit(c: ResolvedConfig, target: string, field = '--emit'): string {
  if (target === 'pytorch') return emitPytorch(c);
  if (target === 'jax') return emitJax(c);
  if (target === 'tfjs') return emitTfjs(c);
  fail(field, `must be one of ${EMIT_TARGETS.join(', ')}, got ${JSON.stringify(target)}`);
}
