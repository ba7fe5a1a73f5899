#!/usr/bin/env python3
"""The fidelity grid's attention components measured by an independent PyTorch implementation
(the component contract's attention block: softmax(QKᵀ/√d_h)·V per head, then W_o, no biases,
optional causal mask), many trials per case in one vectorised pass — for the GPU machine
(scripts/gpu-check.sh runs it when .gpu/attention-cases.json exists). Not a project dependency.

  python3 scripts/torch-attention.py CASES.json --out FILE [--device cuda|cpu]

CASES.json: [{"id", "params": {dModel, heads, stdQ, stdK, stdV, stdO, seqLen, causal}, "input":
{mean, var, r}, "grad": {var, r}, "B": sequences per trial, "trials": K, "vector": trials per pass}].
One trial: fresh weights, inputs with the requested token correlation, an upstream gradient with the
requested (var, r) drawn the same way, the input gradient by autograd; statistics as config v1
(torch-reference.py stats(), as test/mc/tensor.ts tensorStats: global mean removed, var over all entries, r the mean over
sequences and token pairs of the Pearson correlation across features), per trial; the output is the
trial mean and trial-to-trial std of var, r, gradVar, gradR.
"""
import importlib.util, json, math, os, sys, time, zlib

import torch


# the inputs and the config v1 statistics are scripts/torch-reference.py's (one definition of each)
_spec = importlib.util.spec_from_file_location("torch_reference", os.path.join(os.path.dirname(os.path.abspath(__file__)), "torch-reference.py"))
ref = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(ref)


def run(case, dev, dtype):
    p = case["params"]
    d, H, T = p["dModel"], p["heads"], p["seqLen"]
    dh = d // H
    B, K = case["B"], case["trials"]
    vec = max(1, int(case.get("vector", K)))
    gen = torch.Generator(device=dev)
    gen.manual_seed(zlib.crc32(case["id"].encode()))
    mask = torch.triu(torch.ones(T, T, dtype=torch.bool, device=dev), 1) if p.get("causal") else None
    rows = []
    done = 0
    while done < K:
        S = min(vec, K - done)
        x = ref.sample_inputs(gen, S, B, T, d, case["input"], dev, dtype).requires_grad_(True)
        G = ref.sample_inputs(gen, S, B, T, d, {"mean": 0, "var": case["grad"]["var"], "r": case["grad"]["r"]}, dev, dtype)
        W = lambda s: (torch.randn(S, 1, d, d, generator=gen, device=dev, dtype=torch.float64) * s).to(dtype)
        wq, wk, wv, wo = W(p["stdQ"]), W(p["stdK"]), W(p["stdV"]), W(p["stdO"])
        q = (x @ wq).view(S, B, T, H, dh).transpose(2, 3)
        k = (x @ wk).view(S, B, T, H, dh).transpose(2, 3)
        v = (x @ wv).view(S, B, T, H, dh).transpose(2, 3)
        sc = (q @ k.transpose(-1, -2)) / math.sqrt(dh)
        if mask is not None:
            sc = sc.masked_fill(mask, float("-inf"))
        P = torch.softmax(sc, -1)
        o = (P @ v).transpose(2, 3).reshape(S, B, T, d) @ wo
        (o * G).sum().backward()
        with torch.no_grad():
            # ref.stats: [mean, var, r] per trial; var and r of the output, then of the input gradient
            rows.append(torch.cat([ref.stats(o.detach())[:, 1:], ref.stats(x.grad)[:, 1:]], -1).cpu())
        done += S
    a = torch.cat(rows, 0)  # [K, 4]: var, r, gradVar, gradR
    mu, sd = a.mean(0), a.std(0)
    names = ["var", "r", "gradVar", "gradR"]
    return {"id": case["id"], "trials": K, **{n: [mu[i].item(), sd[i].item()] for i, n in enumerate(names)}}


def main():
    args = sys.argv[1:]
    dev = "cuda" if torch.cuda.is_available() else "cpu"
    if "--device" in args:
        dev = args[args.index("--device") + 1]
    out_file = args[args.index("--out") + 1]
    # float64 on the GPU too (the float64 simulator's precision; peaked rows at σ_s² = 100)
    dtype = torch.float64
    torch.backends.cuda.matmul.allow_tf32 = False
    cases = json.load(open(args[0]))
    out = {"torch": torch.__version__, "device": torch.cuda.get_device_name(0) if dev == "cuda" else "cpu", "dtype": str(dtype), "cases": []}
    t0 = time.perf_counter()
    for i, c in enumerate(cases):
        try:
            out["cases"].append(run(c, dev, dtype))
        except Exception as e:
            out["cases"].append({"id": c["id"], "error": repr(e)})
        if i % 10 == 9 or i == len(cases) - 1:
            with open(out_file, "w") as f:
                json.dump(out, f)
            print(f"torch-attention: {i + 1}/{len(cases)} cases, {time.perf_counter() - t0:.1f} s", file=sys.stderr, flush=True)


if __name__ == "__main__":
    main()
