/**
 * The TUI's verify service: runs the measurement harness (verify/run.ts, issue 3) in a forked
 * child process so that TF.js never blocks the UI; progress arrives over IPC after each seed;
 * cancel kills the child. Results: per-layer measured moments [mean, seed-to-seed std].
 */
import { fork, type ChildProcess } from 'node:child_process';
import { existsSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import type { ResolvedConfig } from '../config.js';
import type { BackendName } from '../../verify/backend.js';

export interface VerifyProgress { fraction: number; text: string }

export interface MeasuredLayer {
  layer: number;
  mean?: [number, number] | null;
  var?: [number, number] | null;
  r?: [number, number] | null;
  gradVar?: [number, number] | null;
  gradR?: [number, number] | null;
}

export interface VerifyHandle { cancel(): void; /** the measuring process */ pid?: number }

export interface VerifyCallbacks {
  onProgress(p: VerifyProgress): void;
  onDone(measured: MeasuredLayer[], message: string): void;
  onError(message: string): void;
}

export interface VerifyService { start(cfg: ResolvedConfig, cb: VerifyCallbacks): VerifyHandle }

export interface VerifyOptions { backend?: BackendName; seeds?: number; batch?: number }

/** The compiled child script (dist/), also when the TUI itself runs from sources (tests). */
export function childScript(): string | undefined {
  for (const rel of ['./verifyChild.js', '../../dist/src/tui/verifyChild.js']) {
    const p = fileURLToPath(new URL(rel, import.meta.url));
    if (existsSync(p)) return p;
  }
  return undefined;
}

export function verifyService(o: VerifyOptions = {}): VerifyService | undefined {
  const script = childScript();
  if (!script) return undefined;
  return {
    start(cfg, cb) {
      const t0 = Date.now();
      let child: ChildProcess | undefined = fork(script, [], { stdio: ['ignore', 'ignore', 'pipe', 'ipc'] });
      let finished = false;
      let stderr = '';
      child.stderr?.on('data', (d: Buffer) => { stderr = (stderr + d.toString()).slice(-2000); });
      const seeds = o.seeds ?? 4;
      child.on('message', (m: { type: string; done?: number; total?: number; text?: string; layers?: { layer: number; measured: MeasuredLayer }[]; verdict?: string; backend?: string; device?: string; passSeconds?: number | null; message?: string }) => {
        if (m.type === 'progress') {
          const frac = m.total ? (m.done ?? 0) / m.total : 0;
          cb.onProgress({ fraction: frac, text: `${m.text ?? ''} · ${((Date.now() - t0) / 1000).toFixed(0)} s` });
        } else if (m.type === 'done') {
          finished = true;
          const layers = (m.layers ?? []).map((l) => ({ ...l.measured, layer: l.layer }));
          cb.onDone(layers, `${m.verdict ?? ''} (${m.backend} on ${m.device}, ${((Date.now() - t0) / 1000).toFixed(1)} s)`);
        } else if (m.type === 'error') {
          finished = true;
          cb.onError(m.message ?? 'verification failed');
        }
      });
      child.on('exit', (code, signal) => {
        if (!finished && signal !== 'SIGTERM') cb.onError(`verification process exited (${signal ?? code})${stderr ? ': ' + stderr.trim().split('\n').pop() : ''}`);
        child = undefined;
      });
      child.send({ cfg, backend: o.backend ?? 'auto', seeds, batch: o.batch ?? 4 });
      return { pid: child.pid, cancel() { finished = true; child?.kill('SIGTERM'); child = undefined; } };
    },
  };
}

export async function loadVerify(o: VerifyOptions = {}): Promise<VerifyService | undefined> {
  return verifyService(o);
}
