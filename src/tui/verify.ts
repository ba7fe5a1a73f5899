/**
 * The TUI's view of the verification harness (issue 3: verify/). Measurements run outside the UI
 * thread; the UI receives progress and, at the end, per-layer measured moments [mean, seed std].
 * `loadVerify()` returns a service when the harness exists in the build, else undefined.
 */
import type { ResolvedConfig } from '../config.js';

export interface VerifyProgress { fraction: number; text: string }

export interface MeasuredLayer {
  layer: number;
  mean?: [number, number];
  var?: [number, number];
  r?: [number, number];
  gradVar?: [number, number];
  gradR?: [number, number];
}

export interface VerifyHandle { cancel(): void }

export interface VerifyCallbacks {
  onProgress(p: VerifyProgress): void;
  onDone(measured: MeasuredLayer[], message: string): void;
  onError(message: string): void;
}

export interface VerifyService { start(cfg: ResolvedConfig, cb: VerifyCallbacks): VerifyHandle }

export async function loadVerify(): Promise<VerifyService | undefined> {
  return undefined;
}
