import { writeFileSync } from 'node:fs';
import { checkFlags, intFlag, parseArgs, readJsonFile, str } from '../args.js';
import { fail } from '../errors.js';
import { resolveConfig } from '../config.js';
import { fmt, sampleIndices, table } from '../format.js';
import { BACKENDS, type BackendName } from '../../verify/backend.js';
import { verifyConfig, type VerifyResult } from '../../verify/run.js';
import { TOLERANCE_RULE, type LayerReport, type Quantity } from '../../verify/compare.js';

export const usage = `moments verify --config FILE [--backend auto|webgpu|tfjs-node-gpu|tfjs-node|wasm|cpu] [--seeds K] [--batch B]
               [--seed S] [--workers W] [--json] [--report out.html] [--all]
moments verify --component REQ.json [--backend ...] [--seeds K] [--batch B] [--tokens T] [--width D] [--json]
  Build the config's model in TF.js, measure mean, var, r, gradVar, gradR at every layer over K seeds
  (default 4; batch B default 4) and compare with the theory. Tolerance per point:
  ${TOLERANCE_RULE}.
  --json     machine output {"backend","device","seeds","batch","timing","layers":[...],"summary"}
  --report   write a self-contained HTML page with plots (var, gradVar on log scale, r)
  --component  one catalogue block in isolation (a component request {block, params, input, grad})
  Exit code 0: all within tolerance; 1: mismatch, divergence or a failed/interrupted run; 2: bad input.`;

const pm = (m: [number, number] | null) => (m === null ? 'NaN/Inf' : `${fmt(m[0])}±${fmt(m[1], 2)}`);
const err = (q: Quantity, e: number | null, t: number | null) => {
  if (e === null) return '—';
  const rel = q === 'var' || q === 'gradVar';
  const s = rel ? `${(e * 100).toPrecision(2)}%` : fmt(e, 2);
  return t !== null && e > t ? s + '*' : s;
};

export function resultTable(res: { layers: LayerReport[] }, all = false): string {
  const idx = sampleIndices(res.layers.length, all);
  const qs: Quantity[] = ['mean', 'var', 'r', 'gradVar', 'gradR'];
  const head = ['layer', ...qs.flatMap((q) => [`${q} pred`, 'measured', 'err']), 'ok'];
  const rows = idx.map((i) => {
    const l = res.layers[i];
    return [String(l.layer), ...qs.flatMap((q) => [fmt(l.predicted[q]), pm(l.measured[q]), err(q, l.relErr[q], l.tolerance[q])]), l.withinTolerance ? 'yes' : 'NO'];
  });
  return table(head, rows);
}

/** Progress bar on stderr (TTY only, after the first second). */
export function progress(label: string): { update(done: number, total: number): void; end(): void } {
  const t0 = Date.now();
  const tty = Boolean(process.stderr.isTTY);
  let shown = false;
  return {
    update(done, total) {
      if (!tty || Date.now() - t0 < 1000) return;
      shown = true;
      const w = 30, k = Math.round((w * done) / Math.max(total, 1));
      process.stderr.write(`\r${label} [${'#'.repeat(k)}${'.'.repeat(w - k)}] ${done}/${total} seeds  ${((Date.now() - t0) / 1000).toFixed(1)} s`);
    },
    end() { if (shown) process.stderr.write('\n'); },
  };
}

/** Ctrl-C: first press stops after the passes in flight and prints what was measured; second exits. */
export function interruptible(): { control: { stopped: boolean; stop?: () => void }; release(): void } {
  const control: { stopped: boolean; stop?: () => void } = { stopped: false };
  const onSig = () => {
    if (control.stopped) process.exit(130);
    control.stopped = true;
    process.stderr.write('\ninterrupted: finishing the passes in flight (Ctrl-C again to quit now)\n');
    control.stop?.();
  };
  process.on('SIGINT', onSig);
  return { control, release: () => { process.off('SIGINT', onSig); } };
}

export function jsonResult(r: VerifyResult): Record<string, unknown> {
  return {
    backend: r.backend, device: r.device, seeds: r.seeds, batch: r.batch, timing: r.timing,
    layers: r.layers, summary: r.summary, notes: r.notes, flopsPerPass: r.flopsPerPass,
  };
}

export async function run(argv: string[]): Promise<number> {
  const a = parseArgs(argv, ['json', 'all']);
  checkFlags(a, ['config', 'component', 'backend', 'seeds', 'batch', 'seed', 'workers', 'json', 'report', 'all', 'tokens', 'width']);
  const backend = (str(a, 'backend') ?? 'auto') as BackendName;
  if (!BACKENDS.includes(backend)) fail('--backend', `must be one of ${BACKENDS.join(', ')}, got '${backend}'`);
  const seeds = intFlag(a, 'seeds', 4, 1, 10_000);
  const batch = intFlag(a, 'batch', 4, 1, 65_536);
  const firstSeed = intFlag(a, 'seed', 1, 0, 2 ** 31 - 1);
  const workers = str(a, 'workers') === undefined ? undefined : intFlag(a, 'workers', 1, 1, 256);
  const compPath = str(a, 'component');
  if (compPath !== undefined) {
    if (str(a, 'report') !== undefined) fail('--report', 'is only available with --config');
    const { runComponentCommand } = await import('../../verify/component.js');
    return runComponentCommand(readJsonFile(compPath, '--component'), {
      backend, seeds, batch, firstSeed, json: Boolean(a.flags.json),
      tokens: str(a, 'tokens') === undefined ? undefined : intFlag(a, 'tokens', 16, 1, 4096),
      width: str(a, 'width') === undefined ? undefined : intFlag(a, 'width', 256, 1, 65_536),
    });
  }
  if (str(a, 'tokens') !== undefined || str(a, 'width') !== undefined) fail('--tokens', 'and --width are only used with --component');
  const path = str(a, 'config') ?? a._[0];
  if (!path) fail('--config', 'is required (a config v1 JSON file), or --component REQ.json');
  const raw = readJsonFile(path, '--config');
  if (Array.isArray(raw)) fail('--config', 'verify takes one config object, not an array (run it once per config)');
  const cfg = resolveConfig(raw);
  const reportPath = str(a, 'report');
  const bar = progress('verify');
  const { control, release } = interruptible();
  let res: VerifyResult;
  try {
    res = await verifyConfig(cfg, { backend, seeds, batch, firstSeed, workers, control, onProgress: (d, t) => bar.update(d, t) });
  } finally {
    bar.end();
    release();
  }
  if (reportPath) {
    const { reportHtml } = await import('../../verify/report.js');
    try { writeFileSync(reportPath, await reportHtml(cfg, res)); } catch (e) { fail('--report', `cannot write '${reportPath}' (${(e as Error).message})`); }
  }
  if (a.flags.json) process.stdout.write(JSON.stringify(jsonResult(res)) + '\n');
  else {
    process.stdout.write(`${cfg.name ? cfg.name + ': ' : ''}backend ${res.backend} on ${res.device}; ${res.seeds} seed(s) × batch ${res.batch}; pass ${res.timing.passSeconds === null ? '—' : res.timing.passSeconds.toFixed(3) + ' s'} (median), total ${res.timing.totalSeconds.toFixed(1)} s\n`);
    for (const n of res.notes) process.stdout.write(`note: ${n}\n`);
    process.stdout.write(resultTable(res, Boolean(a.flags.all)) + '\n');
    process.stdout.write(`errors: var and gradVar relative, mean/r/gradR absolute; * = outside tolerance (${TOLERANCE_RULE})\n`);
    for (const w of res.summary.predictionWarnings) process.stdout.write(`theory warning: ${w}\n`);
    if (reportPath) process.stdout.write(`report written to ${reportPath}\n`);
    process.stdout.write(`verdict: ${res.summary.verdict}\n`);
  }
  const ok = res.summary.allWithinTolerance && !res.summary.failures.length && !res.summary.interrupted && res.seeds > 0;
  return ok ? 0 : 1;
}
