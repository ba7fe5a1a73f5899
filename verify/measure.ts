/**
 * Runs seeds of one config in this thread on the current TF.js backend: per seed, fresh weights,
 * inputs, upstream gradient and dropout masks, one forward+backward pass, the statistics of every
 * entry. Used directly (one worker) and inside each worker thread.
 */
import type { ResolvedConfig } from '../src/config.js';
import { tf } from './backend.js';
import { Model, PassError, drawPass, drawWeights, type PassStats } from './model.js';

/** `first`: the first pass of this thread (includes warm-up: kernel set-up, JIT) */
export interface SeedResult { seed: number; stats: PassStats; passSeconds: number; first?: boolean }
export interface SeedFailure { seed: number; layer: number | null; phase: string; message: string }

export interface RunSeedsOptions {
  batch: number;
  seeds: number[];
  /** per-head blocked attention with NN-form gradients (wasm fast path) */
  blocked: boolean;
  /** extra timed passes per seed on the same weights (benchmarks) */
  repeats?: number;
  onSeed(r: SeedResult): void;
  onFailure(f: SeedFailure): void;
  shouldStop?(): boolean;
}

export async function runSeeds(cfg: ResolvedConfig, o: RunSeedsOptions): Promise<void> {
  let first = true;
  for (const seed of o.seeds) {
    if (o.shouldStop?.()) return;
    let model: Model | null = null;
    try {
      model = new Model(tf, cfg, drawWeights(cfg, seed), { batch: o.batch, blocked: o.blocked });
      const reps = 1 + (o.repeats ?? 0);
      for (let rep = 0; rep < reps; rep++) {
        const data = drawPass(cfg, o.batch, seed, rep);
        const t0 = performance.now();
        const stats = await model.pass(data);
        const passSeconds = (performance.now() - t0) / 1000;
        if (rep === 0 || o.repeats) o.onSeed({ seed, stats, passSeconds, first });
        first = false;
        if (o.shouldStop?.()) break;
      }
    } catch (e) {
      const pe = e instanceof PassError ? e : new PassError(null, 'setup', e);
      o.onFailure({ seed, layer: pe.layer, phase: pe.phase, message: pe.message });
      model?.dispose();
      return; // a failing backend is not retried
    }
    model.dispose();
    // give the event loop a turn (Ctrl-C, worker messages)
    await new Promise((r) => setImmediate(r));
  }
}
