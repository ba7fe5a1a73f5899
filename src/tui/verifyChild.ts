/**
 * Child process of the TUI's verify service (forked with an IPC channel): runs the harness
 * (verify/run.ts) on one config and reports progress and the per-layer measurements to the
 * parent. The parent cancels by killing this process; TF.js never runs on the UI thread.
 */
import type { ResolvedConfig } from '../config.js';
import type { BackendName } from '../../verify/backend.js';

interface Job { cfg: ResolvedConfig; backend: BackendName; seeds: number; batch: number }

const send = (m: unknown) => { if (process.send) process.send(m); };

process.on('message', (job: Job) => {
  void (async () => {
    try {
      send({ type: 'progress', done: 0, total: job.seeds, text: `starting ${job.backend} backend` });
      const { verifyConfig } = await import('../../verify/run.js');
      const res = await verifyConfig(job.cfg, {
        backend: job.backend, seeds: job.seeds, batch: job.batch,
        onProgress: (done, total) => send({ type: 'progress', done, total, text: `seed ${done}/${total}` }),
      });
      send({ type: 'done', backend: res.backend, device: res.device, seeds: res.seeds, layers: res.layers.map((l) => ({ layer: l.layer, measured: l.measured, relErr: l.relErr, withinTolerance: l.withinTolerance })), verdict: res.summary.verdict, passSeconds: res.timing.passSeconds });
    } catch (e) {
      send({ type: 'error', message: (e as Error).message });
    }
    process.disconnect?.();
  })();
});
