/** Worker thread of the TUI's Predictor: predicts one resolved config per message. */
import { parentPort } from 'node:worker_threads';
import { predictNow, type PredictResult } from './predictor.js';
import type { ResolvedConfig } from '../config.js';

parentPort!.on('message', (job: { id: number; cfg: ResolvedConfig }) => {
  const t = performance.now();
  let res: PredictResult;
  try {
    res = { id: job.id, ok: true, pred: predictNow(job.cfg), ms: performance.now() - t };
  } catch (e) {
    res = { id: job.id, ok: false, error: (e as Error).message };
  }
  parentPort!.postMessage(res);
});
