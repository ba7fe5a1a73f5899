/**
 * The GPU section of BENCHMARKS.md: not measured by `npm run bench` (this machine has no GPU) but
 * read from the stored run of scripts/gpu-check.sh on the lent GPU machine (fidelity/gpu/): the
 * harness on WebGPU against an independent PyTorch CUDA implementation of the same configs, same
 * card, same run.
 */
import { existsSync, readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { loadGpu } from '../fidelity/gpu.js';
import type { BenchSection } from './run.js';

export async function bench(): Promise<BenchSection> {
  const dir = fileURLToPath(new URL('../../fidelity/gpu/', import.meta.url));
  const g = loadGpu(dir);
  const log = existsSync(dir + 'log.txt') ? readFileSync(dir + 'log.txt', 'utf8') : '';
  const when = log.split('\n')[0] ?? '?';
  const gpuName = /\| *\d+ +(NVIDIA [^|]*?) {2,}/.exec(log)?.[1]?.trim() ?? 'GPU';
  const rows: BenchSection['rows'] = [];
  for (const c of g?.cases ?? []) {
    const ms = g!.measurements.get(c.id) ?? [];
    const t = ms.find((m) => m.source === 'PyTorch'), w = ms.find((m) => m.source === 'WebGPU');
    if (!t?.passSeconds) continue;
    const shape = `${c.config.layers} layers, d ${c.config.dModel}, seqLen ${c.config.seqLen}, batch ${t.batch}${c.config.dropout ? `, dropout ${c.config.dropout}` : ''}`;
    if (!w?.passSeconds) { rows.push({ name: `${c.id} (${shape}): PyTorch CUDA`, value: `${t.passSeconds.toFixed(4)} s / pass` }); continue; }
    const ratio = w.passSeconds / t.passSeconds;
    const issue = c.id === 'preln-48';
    rows.push({ name: `${c.id} (${shape}): harness on WebGPU vs PyTorch CUDA`, value: `${w.passSeconds.toFixed(3)} s vs ${t.passSeconds.toFixed(4)} s (${ratio.toFixed(1)}×)`,
      target: issue ? '≤ 3× PyTorch (issue 3)' : undefined, pass: issue ? ratio <= 3 : undefined });
  }
  return {
    title: `Verification harness on a GPU (stored run: ${gpuName})`,
    method: `scripts/gpu-check.sh on the lent GPU machine (first run ${when}; a second run the same day in log-2.txt); not re-run by \`npm run bench\`, which has no GPU here. Harness: \`verify --backend webgpu --batch 8\` from the esbuild bundle (scripts/gpu-bundle.sh), TF.js 4.22 on Dawn (npm webgpu 0.6.2), median of the timed passes after each run's first (warm-up) pass; one pass = model.pass(): upload of the inputs, upstream gradient and dropout masks, forward, backward, every entry's statistics and their download (drawing the masks in JS is outside it). PyTorch: scripts/torch-reference.py, CUDA float32 with TF32 off, median of 5 passes after the seeds, the same statistics computed but not downloaded.`,
    rows,
    notes: [
      'The issue-3 target (within 3× of PyTorch on the same card) is not met: the harness runs each op as its own WebGPU dispatch from JS (192 layers × ~40 ops forward, more backward, plus ~15 ops per entry and statistic), and uploads its dropout masks from the CPU (preln-48: 201 M mask values per pass, drawn in 6.7 s by JS on the 2-core dev machine, outside the timed pass). deepscalelm-192 has no dropout, so masks do not explain its 13×; per-op dispatch is the likely cause there, not profiled on the GPU.',
      'The measurements of the same runs (all within tolerance for PyTorch; for WebGPU see FIDELITY.md): FIDELITY.md, section "Full width on a GPU".',
    ],
  };
}
