/**
 * TF.js backend selection for the harness: auto | webgpu | tfjs-node-gpu | tfjs-node | wasm | cpu.
 * `auto` tries WebGPU (npm `webgpu`, Dawn; adapter request bounded by a timeout), then the optional
 * peers @tensorflow/tfjs-node-gpu / @tensorflow/tfjs-node when importable, then wasm, then the
 * pure-JS cpu backend (tiny models only). Every step that is skipped leaves a note saying why.
 */
import * as tf from '@tensorflow/tfjs';
import os from 'node:os';
import path from 'node:path';
import { existsSync } from 'node:fs';
import { createRequire } from 'node:module';
import { fileURLToPath } from 'node:url';
import { fail } from '../src/errors.js';

export const BACKENDS = ['auto', 'webgpu', 'tfjs-node-gpu', 'tfjs-node', 'wasm', 'cpu'] as const;
export type BackendName = (typeof BACKENDS)[number];
export type ConcreteBackend = Exclude<BackendName, 'auto'>;

export interface BackendInfo {
  backend: ConcreteBackend;
  /** human description of the device that runs the passes */
  device: string;
  /** why earlier candidates of `auto` were skipped */
  notes: string[];
}

/** Largest pass (FLOPs) the pure-JS cpu backend is allowed to run. */
export const CPU_MAX_FLOPS = 2e8;
const ADAPTER_TIMEOUT_MS = 5000;

function cpuName(): string { return os.cpus()[0]?.model?.trim() || 'unknown CPU'; }

/** Directory holding the tfjs-backend-wasm .wasm files (with a trailing slash). */
export function wasmDir(): string {
  const env = process.env.MOMENTS_WASM_DIR;
  if (env) return env.endsWith('/') ? env : env + '/';
  const candidates: string[] = [];
  try {
    const req = createRequire(import.meta.url);
    candidates.push(path.dirname(req.resolve('@tensorflow/tfjs-backend-wasm')));
  } catch { /* bundled: no node_modules */ }
  try { candidates.push(path.join(path.dirname(fileURLToPath(import.meta.url)), 'wasm')); } catch { /* no file URL */ }
  for (const c of candidates) {
    const d = c.replace(/([/\\]dist)[/\\].*$/, '$1');
    if (existsSync(path.join(d, 'tfjs-backend-wasm-simd.wasm'))) return d + '/';
    if (existsSync(path.join(c, 'tfjs-backend-wasm-simd.wasm'))) return c + '/';
  }
  return '';
}

async function tryWasm(): Promise<string | null> {
  const wasm = await import('@tensorflow/tfjs-backend-wasm');
  const dir = wasmDir();
  if (!dir) return 'the tfjs-backend-wasm .wasm files were not found (set MOMENTS_WASM_DIR to the folder holding tfjs-backend-wasm-simd.wasm)';
  wasm.setWasmPaths(dir);
  const ok = await tf.setBackend('wasm').catch((e: Error) => { throw e; });
  if (!ok || tf.getBackend() !== 'wasm') return 'the wasm backend failed to initialise (set MOMENTS_DEBUG=1 to see its own error)';
  await tf.ready();
  shareIdentity();
  return null;
}

/**
 * The wasm backend's Identity kernel copies its input; the autodiff tape calls it for every tensor
 * it saves for the backward pass. Tensors are immutable, so (as the cpu backend does) the output
 * can share the input's buffer by reference count: same values, no copy.
 */
function shareIdentity(): void {
  const backend = tf.findBackend('wasm') as unknown as { incRef(id: unknown): void } | null;
  if (!backend || typeof backend.incRef !== 'function') return;
  tf.unregisterKernel('Identity', 'wasm');
  tf.registerKernel({
    kernelName: 'Identity',
    backendName: 'wasm',
    kernelFunc: ({ inputs, backend: b }) => {
      const x = inputs.x as tf.TensorInfo;
      (b as unknown as { incRef(id: unknown): void }).incRef(x.dataId);
      return { dataId: x.dataId, shape: x.shape, dtype: x.dtype };
    },
  });
}

let webgpuDevice = '';
async function tryWebgpu(): Promise<string | null> {
  let mod: { create: (o: string[]) => unknown; globals: Record<string, unknown> };
  try {
    mod = (await import('webgpu')) as unknown as typeof mod;
  } catch (e) {
    return `the 'webgpu' package cannot be loaded (${(e as Error).message.split('\n')[0]})`;
  }
  const g = globalThis as Record<string, unknown>;
  Object.assign(g, mod.globals);
  let gpu: { requestAdapter(o?: unknown): Promise<unknown> };
  try {
    gpu = mod.create([]) as typeof gpu;
  } catch (e) {
    return `Dawn failed to start (${(e as Error).message.split('\n')[0]})`;
  }
  // Node ≥ 21 has a read-only navigator getter; define the property instead of assigning.
  Object.defineProperty(g, 'navigator', { value: { ...(g.navigator as object ?? {}), gpu }, configurable: true, writable: true });
  const adapter = await Promise.race([
    gpu.requestAdapter({ powerPreference: 'high-performance' }).catch(() => null),
    new Promise<'timeout'>((res) => setTimeout(() => res('timeout'), ADAPTER_TIMEOUT_MS).unref()),
  ]);
  if (adapter === 'timeout') return `no WebGPU adapter answered within ${ADAPTER_TIMEOUT_MS / 1000} s`;
  if (!adapter) return 'no WebGPU adapter (no GPU, or no Vulkan driver visible to Dawn)';
  const info = (adapter as { info?: Record<string, string> }).info ?? {};
  webgpuDevice = [info.vendor, info.architecture, info.device, info.description].filter((x) => x).join(' ') || 'WebGPU adapter';
  await import('@tensorflow/tfjs-backend-webgpu');
  const ok = await tf.setBackend('webgpu').catch(() => false);
  if (!ok || tf.getBackend() !== 'webgpu') return 'the TF.js webgpu backend failed to initialise on the adapter (set MOMENTS_DEBUG=1 to see its own error)';
  await tf.ready();
  return null;
}

async function tryTfjsNode(gpu: boolean): Promise<string | null> {
  const name = gpu ? '@tensorflow/tfjs-node-gpu' : '@tensorflow/tfjs-node';
  try {
    // optional peer dependency: never required; a variable specifier keeps bundlers from resolving it
    const spec = name;
    await import(spec);
  } catch {
    return `${name} is not installed (optional; it needs network access to Google's storage to install)`;
  }
  const ok = await tf.setBackend('tensorflow').catch(() => false);
  if (!ok || tf.getBackend() !== 'tensorflow') return `${name} loaded but its 'tensorflow' backend did not register with this copy of @tensorflow/tfjs`;
  await tf.ready();
  return null;
}

async function tryCpu(): Promise<string | null> {
  const ok = await tf.setBackend('cpu');
  if (!ok) return 'the cpu backend failed to initialise';
  await tf.ready();
  return null;
}

export function deviceOf(b: ConcreteBackend, workers = 1): string {
  switch (b) {
    case 'webgpu': return `${webgpuDevice || 'WebGPU adapter'} (WebGPU via Dawn)`;
    case 'tfjs-node-gpu': return 'GPU via TensorFlow C (tfjs-node-gpu)';
    case 'tfjs-node': return `${cpuName()} via TensorFlow C (tfjs-node)`;
    case 'wasm': return `${cpuName()}, wasm SIMD, 1 thread per worker × ${workers} worker${workers > 1 ? 's' : ''}`;
    case 'cpu': return `${cpuName()}, pure-JS cpu backend, ${workers} worker${workers > 1 ? 's' : ''}`;
  }
}

/** Initialise the TF.js backend in this thread. `flops` is the cost of one pass (for the cpu guard). */
export async function initBackend(want: BackendName, flops: number, quiet = false): Promise<BackendInfo> {
  const notes: string[] = [];
  const order: ConcreteBackend[] = want === 'auto' ? ['webgpu', 'tfjs-node-gpu', 'tfjs-node', 'wasm', 'cpu'] : [want];
  if (!quiet && !process.env.MOMENTS_DEBUG) tf.env().set('PROD', true);
  for (const b of order) {
    let why: string | null;
    if (b === 'cpu' && flops > CPU_MAX_FLOPS) {
      why = `the model needs ${(flops / 1e9).toFixed(2)} GFLOP per pass; the pure-JS cpu backend is limited to ${(CPU_MAX_FLOPS / 1e9).toFixed(1)} GFLOP per pass (use --backend wasm)`;
    } else {
      try {
        why = b === 'webgpu' ? await tryWebgpu() : b === 'wasm' ? await tryWasm() : b === 'cpu' ? await tryCpu() : await tryTfjsNode(b === 'tfjs-node-gpu');
      } catch (e) {
        why = `failed to start (${(e as Error).message.split('\n')[0]})`;
      }
    }
    if (why === null) return { backend: b, device: deviceOf(b), notes };
    if (want !== 'auto') fail('--backend', `${b}: ${why}`);
    notes.push(`${b}: ${why}`);
  }
  fail('--backend', `no backend could start: ${notes.join('; ')}`);
}

export { tf };
