/** Worker thread: one TF.js backend, runs its share of the seeds and posts each result. */
import { parentPort, workerData } from 'node:worker_threads';
import type { ResolvedConfig } from '../src/config.js';
import { initBackend, type ConcreteBackend } from './backend.js';
import { runSeeds } from './measure.js';

export interface WorkerJob { cfg: ResolvedConfig; batch: number; seeds: number[]; backend: ConcreteBackend; blocked: boolean; repeats?: number }
export type WorkerMessage =
  | { type: 'ready' }
  | { type: 'seed'; seed: number; stats: { fwd: number[][]; grad: number[][] }; passSeconds: number; first?: boolean }
  | { type: 'failure'; seed: number; layer: number | null; phase: string; message: string }
  | { type: 'done' };

export async function workerMain(job: WorkerJob): Promise<void> {
  const port = parentPort!;
  let stop = false;
  port.on('message', (m: { type: string }) => { if (m.type === 'stop') stop = true; });
  try {
    await initBackend(job.backend, 0, true);
  } catch (e) {
    port.postMessage({ type: 'failure', seed: job.seeds[0] ?? -1, layer: null, phase: 'setup', message: (e as Error).message } satisfies WorkerMessage);
    port.postMessage({ type: 'done' } satisfies WorkerMessage);
    return;
  }
  port.postMessage({ type: 'ready' } satisfies WorkerMessage);
  await runSeeds(job.cfg, {
    batch: job.batch, seeds: job.seeds, blocked: job.blocked, repeats: job.repeats,
    onSeed: (r) => port.postMessage({ type: 'seed', seed: r.seed, stats: r.stats, passSeconds: r.passSeconds, first: r.first } satisfies WorkerMessage),
    onFailure: (f) => port.postMessage({ type: 'failure', ...f } satisfies WorkerMessage),
    shouldStop: () => stop,
  });
  port.postMessage({ type: 'done' } satisfies WorkerMessage);
}

if (parentPort && (workerData as { momentsVerifyJob?: WorkerJob } | undefined)?.momentsVerifyJob) {
  await workerMain((workerData as { momentsVerifyJob: WorkerJob }).momentsVerifyJob);
}
