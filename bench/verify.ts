/**
 * Verification harness speed (issue 3): the reference pass — 12 layers, dModel 256, 4 heads,
 * dFF 1024, seqLen 64, batch 4, forward + backward to every layer's activations — on wasm.
 *   1. one thread: median of 5 timed passes after 2 warm-up passes (fresh inputs each pass);
 *   2. both cores: two worker threads, one wasm backend each, passes in parallel → throughput;
 *   3. the same model without the fast path (batched attention, tfjs' own matmul gradients with
 *      transposed operands), 1 timed pass after 1 warm-up — what the custom gradients buy;
 *   4. PyTorch CPU on the same pass when a python3 with torch is present (same run, same machine;
 *      median of 3 after 1 warm-up).
 * FLOPs counted: the matmuls actually executed (forward, and the backward to the activations:
 * no weight gradients are needed for the statistics) — see passFlops in verify/model.ts.
 */
import { execFileSync } from 'node:child_process';
import { writeFileSync, mkdtempSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { resolveConfig } from '../src/config.js';
import { initBackend, tf } from '../verify/backend.js';
import { Model, drawPass, drawWeights, passFlops } from '../verify/model.js';
import { verifyConfig } from '../verify/run.js';
import type { BenchSection } from './run.js';

export const REFERENCE = { layers: 12, dModel: 256, heads: 4, dFF: 1024, seqLen: 64, input: { r: 0.1 } };
const BATCH = 4;

function median(a: number[]): number { const s = [...a].sort((x, y) => x - y); return s[Math.floor(s.length / 2)]; }

async function timePasses(blocked: boolean, warm: number, timed: number): Promise<{ wall: number[]; cpu: number[] }> {
  const cfg = resolveConfig(REFERENCE);
  const m = new Model(tf, cfg, drawWeights(cfg, 1), { batch: BATCH, blocked });
  const wall: number[] = [], cpu: number[] = [];
  for (let i = 0; i < warm + timed; i++) {
    const data = drawPass(cfg, BATCH, 1, i);
    const c0 = process.cpuUsage(), t0 = performance.now();
    await m.pass(data);
    const dt = (performance.now() - t0) / 1000, cu = process.cpuUsage(c0);
    if (i >= warm) { wall.push(dt); cpu.push((cu.user + cu.system) / 1e6); }
  }
  m.dispose();
  return { wall, cpu };
}

const TORCH_SCRIPT = String.raw`
import sys, time, json, math, torch
torch.manual_seed(0)
L, d, H, F, T, B = 12, 256, 4, 1024, 64, 4
dh = d // H
threads = int(sys.argv[1]); weight_grads = sys.argv[2] == '1'
torch.set_num_threads(threads)
std = 1 / math.sqrt(d)
W = [[(torch.randn(d, d) * std).requires_grad_(weight_grads) for _ in range(4)] + [(torch.randn(d, F) * std).requires_grad_(weight_grads), (torch.randn(F, d) * std / 2).requires_grad_(weight_grads)] for _ in range(L)]
def ln(x):
    return torch.nn.functional.layer_norm(x, (d,), eps=1e-5)
def attn(x, w):
    q = (x @ w[0]).view(B, T, H, dh).transpose(1, 2); k = (x @ w[1]).view(B, T, H, dh).transpose(1, 2); v = (x @ w[2]).view(B, T, H, dh).transpose(1, 2)
    p = torch.softmax(q @ k.transpose(-1, -2) / math.sqrt(dh), -1)
    return (p @ v).transpose(1, 2).reshape(B, T, d) @ w[3]
def one():
    x = torch.randn(B, T, d); g = torch.randn(B, T, d)
    probes = [torch.zeros(B, T, d, requires_grad=True) for _ in range(L + 1)]
    h = x + probes[0]
    for l in range(L):
        h = h + attn(ln(h), W[l]); h = h + torch.relu(ln(h) @ W[l][4]) @ W[l][5]; h = h + probes[l + 1]
    (h * g).sum().backward()
    return [p.grad.var().item() for p in probes]
one()
ts = []
for _ in range(3):
    t0 = time.perf_counter(); one(); ts.append(time.perf_counter() - t0)
ts.sort(); print(json.dumps({"median": ts[1], "version": torch.__version__}))
`;

function torchPython(): string | null {
  for (const py of ['python3', '/usr/bin/python3']) {
    try { execFileSync(py, ['-c', 'import torch'], { stdio: 'ignore', timeout: 60_000 }); return py; } catch { /* next */ }
  }
  return null;
}

export async function bench(): Promise<BenchSection> {
  const cfg = resolveConfig(REFERENCE);
  const fl = passFlops(cfg, BATCH);
  const gf = (s: number) => (fl.total / s / 1e9).toFixed(1);
  const rows: BenchSection['rows'] = [];
  const notes: string[] = [];
  await initBackend('wasm', 0, true);
  const one = await timePasses(true, 2, 5);
  const t1 = median(one.wall);
  rows.push({ name: `reference pass, wasm, 1 thread (median of 5; CPU time ${median(one.cpu).toFixed(3)} s)`, value: `${t1.toFixed(3)} s/pass, ${gf(t1)} GFLOP/s`, target: '≤ 0.45 s', pass: t1 <= 0.45 });
  // both cores: 2 workers × 2 seeds × (1 + 3) passes each, running concurrently
  const workers = Math.min(2, os.availableParallelism?.() ?? os.cpus().length);
  const r = await verifyConfig(cfg, { backend: 'wasm', seeds: 2 * workers, batch: BATCH, workers, repeats: 3 });
  const passes = r.passTimes.length;
  // the workers run their passes at the same time: one pass every (median latency / workers) seconds
  const eff = r.timing.passSeconds! / workers;
  rows.push({ name: `reference pass, wasm, ${workers} worker threads in parallel (${passes} timed passes; per-pass latency median ${r.timing.passSeconds!.toFixed(3)} s)`, value: `${eff.toFixed(3)} s/pass effective, ${gf(eff)} GFLOP/s`, target: '≤ 0.45 s', pass: eff <= 0.45 });
  const slow = await timePasses(false, 1, 1);
  rows.push({ name: 'same pass without the fast path (batched attention, tfjs default matmul gradients), 1 thread', value: `${slow.wall[0].toFixed(3)} s/pass (${(slow.wall[0] / t1).toFixed(1)}× the fast path)` });
  const py = torchPython();
  if (py) {
    const dir = mkdtempSync(path.join(os.tmpdir(), 'moments-bench-'));
    const file = path.join(dir, 'pass.py');
    writeFileSync(file, TORCH_SCRIPT);
    try {
      for (const [threads, wg] of [[1, '0'], [2, '0'], [2, '1']] as const) {
        const out = JSON.parse(execFileSync(py, [file, String(threads), wg], { encoding: 'utf8', timeout: 600_000 })) as { median: number; version: string };
        const ours = threads === 1 ? t1 : eff;
        rows.push({ name: `PyTorch ${out.version} CPU, same pass, ${threads} thread(s)${wg === '1' ? ', also weight gradients' : ''}`, value: `${out.median.toFixed(3)} s/pass; ours ${threads === 1 ? '1 thread' : `${workers} workers`} is ${(out.median / ours).toFixed(1)}× faster` });
      }
    } catch (e) {
      notes.push(`PyTorch comparison failed: ${(e as Error).message.split('\n')[0]}`);
    } finally { rmSync(dir, { recursive: true, force: true }); }
  } else notes.push('PyTorch comparison skipped: no python3 with torch here (Debian: apt-get install python3-torch; benchmark only, never a project dependency).');
  notes.push(`FLOPs per pass: ${(fl.forward / 1e9).toFixed(2)} GFLOP forward + ${(fl.backward / 1e9).toFixed(2)} GFLOP backward (activation gradients only) = ${(fl.total / 1e9).toFixed(2)} GFLOP.`);
  notes.push(`Load average during the run: ${os.loadavg().map((x) => x.toFixed(1)).join(', ')} on ${os.cpus().length} cores — other processes on the machine slow the wall times.`);
  return {
    title: 'Verification harness: reference forward+backward pass (wasm)',
    method: '12 layers, dModel 256, 4 heads, dFF 1024, seqLen 64, batch 4, pre-LN ReLU; wall time of Model.pass (inputs upload, forward, tf.grads to all 13 probes, statistics download); weights drawn once per seed outside the timing. PyTorch: the same model and probes, weights without requires_grad unless stated.',
    rows, notes,
  };
}
