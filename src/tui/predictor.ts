/**
 * Prediction service of the TUI. Non-causal configs predict synchronously (milliseconds). Causal
 * attention runs a per-position quadrature that can take seconds on a cold cache, so causal
 * configs predict in a worker thread: the UI stays responsive, shows "predicting…", and only the
 * newest request is computed (intermediate edits are dropped).
 */
import { Worker } from 'node:worker_threads';
import { fileURLToPath } from 'node:url';
import { existsSync } from 'node:fs';
import { predictResolved, type Prediction } from '../engine.js';
import type { ResolvedConfig } from '../config.js';

/** The prediction without the closures the blocks cache (structured-clonable). */
export function plainPrediction(p: Prediction): Prediction {
  if (!p.trace) return p;
  const strip = <T extends { fwd: { cache?: unknown } }>(t: T): T => ({ ...t, fwd: { ...t.fwd, cache: null } });
  return {
    ...p,
    trace: {
      sublayers: p.trace.sublayers.map((s) => ({ ...s, branch: s.branch.map(strip), post: s.post ? strip(s.post) : undefined })),
      finalNorm: p.trace.finalNorm ? strip(p.trace.finalNorm) : undefined,
    },
  };
}

export function predictNow(cfg: ResolvedConfig): Prediction {
  return plainPrediction(predictResolved(cfg, { trace: true }));
}

/** Whether a config may take long enough to need the worker. */
export function isSlow(cfg: ResolvedConfig): boolean {
  return cfg.causal && cfg.layers >= 64;
}

function workerUrl(): URL | undefined {
  const here = new URL('./predictWorker.js', import.meta.url);
  if (existsSync(fileURLToPath(here))) return here;
  // running from sources (tests): use the built worker when there is one
  const built = new URL('../../dist/src/tui/predictWorker.js', import.meta.url);
  return existsSync(fileURLToPath(built)) ? built : undefined;
}

export type PredictResult = { id: number; ok: true; pred: Prediction; ms: number } | { id: number; ok: false; error: string };

export class Predictor {
  private worker?: Worker;
  private busy = false;
  private current = 0;
  private pending?: { id: number; cfg: ResolvedConfig };
  private next = 1;
  constructor(private onResult: (r: PredictResult) => void) {}

  /** Predict; returns the result at once for fast configs, else undefined (result comes later). */
  request(cfg: ResolvedConfig, forceSync = false): PredictResult | undefined {
    const id = this.next++;
    const url = forceSync || !isSlow(cfg) ? undefined : workerUrl();
    if (!url) {
      this.pending = undefined; // a newer synchronous result supersedes queued work
      const t = performance.now();
      const pred = predictNow(cfg);
      return { id, ok: true, pred, ms: performance.now() - t };
    }
    this.pending = { id, cfg };
    this.pump(url);
    return undefined;
  }

  /** id of the newest request (results with an older id are stale) */
  get latest(): number { return this.next - 1; }

  private pump(url: URL): void {
    if (this.busy || !this.pending) return;
    const job = this.pending;
    this.pending = undefined;
    if (!this.worker) {
      this.worker = new Worker(url);
      this.worker.unref();
      this.worker.on('message', (m: PredictResult) => {
        this.busy = false;
        this.onResult(m);
        this.pump(url);
      });
      this.worker.on('error', (e) => {
        this.busy = false;
        this.worker = undefined;
        this.onResult({ id: this.current, ok: false, error: e.message });
      });
    }
    this.busy = true;
    this.current = job.id;
    this.worker.postMessage(job);
  }

  close(): void {
    this.pending = undefined;
    void this.worker?.terminate();
    this.worker = undefined;
  }
}
