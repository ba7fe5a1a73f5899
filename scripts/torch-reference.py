#!/usr/bin/env python3
"""An independent PyTorch implementation of config v1 (README "Config format"), for cross-checks on a
machine with torch (the offline GPU machine: see scripts/gpu-check.sh). Not a project dependency and
not used by the harness: it shares no code with verify/ (own weights, inputs, masks, statistics).

  python3 scripts/torch-reference.py CASES.json [--device cuda|cpu] [--time-passes K] [--out FILE] (default: stdout)

CASES.json: [{"id", "config": <a ResolvedConfig as `resolveConfig` returns it: per-layer skip,
branch and init arrays, attnDropout, actDropout, eps>, "seeds": K, "batch": B, "vector"?: V}, ...];
V > 1 runs V seeds per pass (a leading seed axis on every tensor, one weight matrix per seed): the
many-seed runs of small models, which one seed at a time leaves latency-bound.
Per case and entry 0..N it writes the seed mean and seed-to-seed sample std of mean, var, r, gradVar
and gradR with config v1's definitions (var over all entries around the global mean; r the mean over
sequences of the mean pairwise cosine of two different tokens' vectors, the global mean removed;
gradients of loss = sum(x_N * G), G iid N(0,1)), plus the median time of one forward+backward pass.
"""
import json, math, sys, time

import torch


def stats(x):
    """[mean, var, r] per seed of a [s, B, T, d] tensor ([s, 3], float64), config v1 definitions."""
    x = x.double()
    m = x.mean((1, 2, 3), keepdim=True)
    u = x - m
    v = (u * u).mean((1, 2, 3))
    n2 = (u * u).sum(-1)  # [s, B, T]
    un = u / n2.clamp_min(1e-30).sqrt().unsqueeze(-1)
    S = un.sum(2)  # [s, B, d]
    cnt = (n2 > 0).double().sum(-1)  # [s, B]
    self_ = (un * un).sum((2, 3))
    r = (((S * S).sum(-1) - self_) / (cnt * (cnt - 1))).mean(-1)
    return torch.stack([m.flatten(), v, r], -1)


def sample_inputs(gen, s, B, T, d, inp, dev, dtype=torch.float32):
    """[s, B, T, d] Gaussian tokens with the given mean, var and pairwise token correlation r
    (verify/inputs.ts's construction: a shared part for r ≥ 0, the centred one for r < 0)."""
    m, var, r = inp["mean"], inp["var"], min(1.0, inp["r"])
    sd = math.sqrt(max(var, 0.0))
    if r >= 0:
        a = torch.randn(s, B, 1, d, generator=gen, device=dev, dtype=dtype)
        e = torch.randn(s, B, T, d, generator=gen, device=dev, dtype=dtype)
        return m + sd * (math.sqrt(r) * a + math.sqrt(1 - r) * e)
    u = max(r * T / (1 - r), -1.0)
    kappa = math.sqrt(1 + u) - 1
    c = 1 / math.sqrt(1 + (2 * kappa + kappa * kappa) / T)
    e = torch.randn(s, B, T, d, generator=gen, device=dev, dtype=dtype)
    return m + sd * c * (e + kappa * e.mean(2, keepdim=True))


def run_case(case, dev, time_passes):
    c = case["config"]
    N, d, H, F, T = c["layers"], c["dModel"], c["heads"], c["dFF"], c["seqLen"]
    dh = d // H
    B = case["batch"]
    eps = c.get("eps", 1e-5)
    p, pa, ph = c["dropout"], c["attnDropout"], c["actDropout"]
    act_name = c["activation"]
    init = c["init"]
    causal_mask = torch.triu(torch.ones(T, T, dtype=torch.bool, device=dev), 1) if c["causal"] else None

    def norm(x):
        if c["normKind"] == "rmsnorm":
            return x * torch.rsqrt((x * x).mean(-1, keepdim=True) + eps)
        xc = x - x.mean(-1, keepdim=True)
        return xc * torch.rsqrt((xc * xc).mean(-1, keepdim=True) + eps)

    def act(x):
        if act_name == "relu":
            return torch.relu(x)
        if act_name == "gelu":
            return torch.nn.functional.gelu(x)
        if act_name == "gelu_tanh":
            return torch.nn.functional.gelu(x, approximate="tanh")
        return torch.nn.functional.silu(x)  # silu, swiglu's gate

    def drop(x, rate, gen):
        if rate <= 0:
            return x
        keep = (torch.rand(x.shape, generator=gen, device=dev) >= rate).to(x.dtype) / (1 - rate)
        return x * keep

    def one_pass(W, gen, want_stats):
        s = W[0]["q"].shape[0]
        x = sample_inputs(gen, s, B, T, d, c["input"], dev)
        G = torch.randn(s, B, T, d, generator=gen, device=dev)
        x = x.requires_grad_(True)
        entries = [x]
        h = x
        for l in range(N):
            lam, beta = c["skip"][l], c["branch"][l]
            w = W[l]

            def attn(z):
                q = (z @ w["q"]).view(s, B, T, H, dh).transpose(2, 3)
                k = (z @ w["k"]).view(s, B, T, H, dh).transpose(2, 3)
                v = (z @ w["v"]).view(s, B, T, H, dh).transpose(2, 3)
                sc = (q @ k.transpose(-1, -2)) / math.sqrt(dh)
                if causal_mask is not None:
                    sc = sc.masked_fill(causal_mask, float("-inf"))
                P = drop(torch.softmax(sc, -1), pa, gen)
                o = (P @ v).transpose(2, 3).reshape(s, B, T, d)
                return drop(o @ w["o"], p, gen)

            def ffn(z):
                a = act(z @ w["1"])
                if act_name == "swiglu":
                    a = a * (z @ w["3"])
                a = drop(a, ph, gen)
                return drop(a @ w["2"], p, gen)

            for branch in (attn, ffn):
                if c["norm"] == "pre":
                    h = lam * h + beta * branch(norm(h))
                else:
                    h = norm(lam * h + beta * branch(h))
            if l == N - 1 and c.get("finalNorm"):
                h = norm(h)
            h.retain_grad()
            entries.append(h)
        loss = (h * G).sum()
        loss.backward()
        if not want_stats:
            return None
        with torch.no_grad():
            # [s, N+1, 6]: per seed and entry mean, var, r of the activation, then of its gradient
            return torch.stack([torch.cat([stats(e.detach()), stats(e.grad)], -1) for e in entries], 1).cpu()

    def weights(gen, s):
        # [s, 1, rows, cols]: one matrix per seed, broadcast over the batch
        W = []
        for l in range(N):
            nd = lambda r, k, std: torch.randn(s, 1, r, k, generator=gen, device=dev) * std
            w = {"q": nd(d, d, init["qk"][l]), "k": nd(d, d, init["qk"][l]), "v": nd(d, d, init["v"][l]),
                 "o": nd(d, d, init["o"][l]), "1": nd(d, F, init["ffn1"][l]), "2": nd(F, d, init["ffn2"][l])}
            if act_name == "swiglu":
                w["3"] = nd(d, F, init["ffn3"][l])
            W.append(w)
        return W

    # seeds in chunks of `vector` (default 1): each chunk one pass with a leading seed axis
    vec = max(1, int(case.get("vector", 1)))
    chunks = []
    done = 0
    while done < case["seeds"]:
        s = min(vec, case["seeds"] - done)
        gen = torch.Generator(device=dev)
        gen.manual_seed(1_000_003 * (done + 1) + 17)
        W = weights(gen, s)
        chunks.append(one_pass(W, gen, True))
        done += s
        del W
    allst = torch.cat(chunks, 0)  # [seeds, N+1, 6]
    per_seed = allst.tolist()
    # timing: extra passes on one seed's weights, statistics not computed
    W = weights(gen, 1)
    times = []
    for _ in range(time_passes):
        if dev == "cuda":
            torch.cuda.synchronize()
        t0 = time.perf_counter()
        one_pass(W, gen, False)
        if dev == "cuda":
            torch.cuda.synchronize()
        times.append(time.perf_counter() - t0)
    times.sort()
    names = ["mean", "var", "r", "gradMean", "gradVar", "gradR"]
    layers = []
    K = len(per_seed)
    for e in range(N + 1):
        row = {"layer": e}
        for qi, q in enumerate(names):
            xs = [s[e][qi] for s in per_seed]
            mu = sum(xs) / K
            sd = math.sqrt(sum((v - mu) ** 2 for v in xs) / (K - 1)) if K > 1 else 0.0
            row[q] = [mu, sd]
        gv = [s[e][4] for s in per_seed]
        if all(v > 0 and math.isfinite(v) for v in gv):
            lg = [math.log(v) for v in gv]
            mu = sum(lg) / K
            sd = math.sqrt(sum((v - mu) ** 2 for v in lg) / (K - 1)) if K > 1 else 0.0
            row["gradLog"] = [mu, sd]
            if K >= 8 and sd > 0:
                row["gradLogSkew"] = sum(((v - mu) / sd) ** 3 for v in lg) / K
                srt = sorted(gv)
                row["gradVarQ"] = [srt[int(q * (K - 1))] for q in (0.1, 0.5, 0.9)]
        layers.append(row)
    return {"id": case["id"], "seeds": K, "batch": B, "device": dev,
            "passSeconds": times[len(times) // 2] if times else None, "layers": layers}


def main():
    args = sys.argv[1:]
    dev = "cuda" if torch.cuda.is_available() else "cpu"
    time_passes = 5
    if "--device" in args:
        dev = args[args.index("--device") + 1]
    out_file = args[args.index("--out") + 1] if "--out" in args else None
    if "--time-passes" in args:
        time_passes = int(args[args.index("--time-passes") + 1])
    cases = json.load(open(args[0]))
    torch.backends.cuda.matmul.allow_tf32 = False  # float32 semantics, as the harness
    torch.backends.cudnn.allow_tf32 = False
    out = {"torch": torch.__version__, "device": torch.cuda.get_device_name(0) if dev == "cuda" else "cpu", "cases": []}
    for case in cases:
        t0 = time.perf_counter()
        try:
            r = run_case(case, dev, time_passes)
        except Exception as e:  # one failing case does not lose the others
            r = {"id": case["id"], "error": repr(e)}
        r["totalSeconds"] = time.perf_counter() - t0
        out["cases"].append(r)
        if out_file:  # rewritten after every case: a run stopped by a timeout keeps what it measured
            with open(out_file, "w") as f:
                json.dump(out, f)
        print(f"torch-reference: {case['id']} {r.get('passSeconds')} s/pass, {r['totalSeconds']:.1f} s", file=sys.stderr, flush=True)
    if not out_file:
        json.dump(out, sys.stdout)


if __name__ == "__main__":
    main()
