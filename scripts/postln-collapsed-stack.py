"""The grid's d = 64 Post-LN stack with its forward exactly collapsed (float64): every token of a
sequence equal, attention uniform (P = 11ᵀ/L, so the attention output is x̄W_vW_o), L tokens and B
sequences sharing the weights, the loss gradient G iid N(0, 1) per token. The backward is exact for
that forward: per-token LayerNorm backward, attention's value path through the token mean, the ReLU
FFN per token. Prints per entry E[gradVar] (± its standard error), the geometric mean and the ln-std
over seeds, gradVar as config v1 defines it (over batch, tokens and features).

Compare with `predict` at input r = 1 (the engine's collapsed stack), e.g. N = 16, L = 32:
  python3 scripts/postln-collapsed-stack.py 16 4 1000 32
  node bin/moments.js predict --config <the grid's d = 64 Post-LN config with layers 16, input r 1>

With causal = 1 the attention is causal: position j's branch gradient is Σ_{i≥j} g_i/(i + 1) (row i
averages its i + 1 keys, all equal), and the modes are printed as position 0 and the rest; compare
with `predict` at input r = 1, causal: true.

usage: python3 scripts/postln-collapsed-stack.py [N=16] [B=4] [seeds=500] [L=32] [seed=5] [causal=0]
"""
import sys
import numpy as np
from postln_chain import forward

a = [int(x) for x in sys.argv[1:]] + [None] * 6
N, B, S, T, seed, causal = a[0] or 16, a[1] or 4, a[2] or 500, a[3] or 32, a[4] or 5, bool(a[5])
inv = 1.0 / np.arange(1, T + 1)  # causal row weights 1/(i + 1)
d, m = 64, 256
rng = np.random.default_rng(seed)


logs = np.zeros((S, N + 1)); sh = np.zeros((S, N + 1)); pv = np.zeros((S, N + 1))


def split(t, l, g):
    """non-causal: the token mean (shared) and the token differences (private), as parts of gradVar;
    causal: position 0's part of gradVar and the other positions'"""
    if causal:
        sh[t, l] = (g[0] ** 2).mean() / T; pv[t, l] = (g[1:] ** 2).mean() * (T - 1) / T
    else:
        gm = g.mean(0, keepdims=True); sh[t, l] = (gm * gm).mean(); pv[t, l] = ((g - gm) ** 2).mean()
for t in range(S):
    cache = forward(rng, rng.standard_normal((d, B)), N, d, m)
    g = rng.standard_normal((T, d, B))  # token, feature, sequence
    logs[t, N] = np.log((g * g).mean())
    split(t, N, g)
    for k in range(2 * N - 1, -1, -1):
        kind, P, y, s = cache[k]
        gz = (g - g.mean(1, keepdims=True) - y[None] * (g * y[None]).mean(1, keepdims=True)) / s[None]
        if kind == 'a' and causal:
            c = np.cumsum((gz * inv[:, None, None])[::-1], axis=0)[::-1]  # c_j = Σ_{i≥j} gz_i/(i + 1)
            g = gz + np.einsum('ij,tjb->tib', P.T, c)
        elif kind == 'a':
            g = gz + np.einsum('ij,tjb->tib', P.T, gz.mean(0, keepdims=True))
        else:
            W1, W2, h = P
            g = gz + np.einsum('ji,tjb->tib', W1, np.einsum('ij,tib->tjb', W2, gz) * (h > 0)[None])
        if k % 2 == 0:
            logs[t, k // 2] = np.log((g * g).mean())
            split(t, k // 2, g)
rel = np.exp(logs - logs[:, N:N + 1])
print(f'N = {N}, B = {B}, L = {T}, {S} seeds, d = {d}: entry, E gradVar ± SE, geometric mean, ln-std (relative to the top entry);')
print('  then the two parts apart (E ± SE, unnormalised): ' + ('position 0 and the rest (shared = position 0)' if causal else 'the token mean (shared) and the token differences (private)'))
for l in range(N, -1, -1):
    print(f'{l:4d}  {rel[:, l].mean():.5f} ± {rel[:, l].std() / np.sqrt(S):.5f}  {np.exp(np.log(rel[:, l]).mean()):.5f}  {np.log(rel[:, l]).std():.3f}'
          f'  | shared {sh[:, l].mean():.5f} ± {sh[:, l].std() / np.sqrt(S):.5f}  private {pv[:, l].mean():.5f} ± {pv[:, l].std() / np.sqrt(S):.5f}')
