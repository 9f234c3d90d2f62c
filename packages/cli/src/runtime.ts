/**
 * The runtime a command runs on: the TensorFlow.js backend (chosen once per process), threads, and the
 * versions that go into every resolved config and report.
 */
import { createRequire } from 'node:module';
import { arch, availableParallelism, cpus, platform } from 'node:os';
import {
  type BackendName,
  backendAdapter,
  backendThreads,
  backendXnnpackThreads,
  setupBackend,
} from '@ldmae/core';
import * as tf from '@tensorflow/tfjs-core';
import { UsageError } from './errors.js';
import { VERSION } from './version.js';

/** Backends `--backend` accepts. */
export const BACKENDS: readonly BackendName[] = ['auto', 'tensorflow', 'wasm', 'cpu', 'webgl', 'webgpu'];

/** What a run ran on. */
export interface RuntimeInfo {
  /** tfjs backend name in use ('wasm', 'tensorflow', 'cpu', ...). */
  backend: string;
  /** Threads the backend computes with (wasm: its products' threads, as `--threads` set them; cpu: 1). */
  threads: number;
  /** wasm: threads of XNNPACK's pool, as `--xnnpack-threads` set them (at most `threads`). */
  xnnpackThreads?: number;
  /** The GPU adapter of a WebGPU backend ('... (software)' for a software rasteriser such as llvmpipe). */
  adapter?: string;
  /** Logical CPUs of the machine. */
  cpus: number;
  cpuModel: string;
  node: string;
  platform: string;
  /** @ldmae/* and tfjs package versions. */
  versions: Record<string, string>;
}

let chosen: string | null = null;

/**
 * Set up the backend (once per process for 'auto': later commands in the same process, as in tests,
 * reuse it), with `threads` and `xnnpackThreads` for wasm (default: the library's). Returns the tfjs
 * name of the backend in use.
 */
export async function initBackend(
  name: string = 'auto',
  threads?: number,
  xnnpackThreads?: number,
): Promise<string> {
  if (!BACKENDS.includes(name as BackendName)) {
    throw new UsageError(`--backend must be one of ${BACKENDS.join(', ')}, got '${name}'`);
  }
  if (chosen && (name === 'auto' || name === chosen)) return chosen;
  try {
    chosen = await setupBackend({
      backend: name as BackendName,
      ...(threads ? { threads } : {}),
      ...(xnnpackThreads ? { xnnpackThreads } : {}),
    });
  } catch (e) {
    throw new UsageError(`--backend ${name}: ${(e as Error).message}`);
  }
  return chosen;
}

const require = createRequire(import.meta.url);

function versionOf(pkg: string): string | null {
  try {
    return (require(`${pkg}/package.json`) as { version: string }).version;
  } catch {
    return null;
  }
}

/** Versions of the packages a run depends on (those that are installed). */
export function packageVersions(): Record<string, string> {
  const out: Record<string, string> = { '@ldmae/cli': VERSION };
  for (const p of [
    '@ldmae/core',
    '@ldmae/data',
    '@ldmae/losses',
    '@ldmae/vmae',
    '@ldmae/baselines',
    '@ldmae/diffusion',
    '@ldmae/metrics',
    '@tensorflow/tfjs-core',
    '@tensorflow/tfjs-backend-wasm',
    '@tensorflow/tfjs-backend-webgpu',
    'webgpu',
    '@tensorflow/tfjs-node',
    '@tensorflow/tfjs-node-gpu',
    'nsfwjs',
  ]) {
    const v = versionOf(p);
    if (v) out[p] = v;
  }
  return out;
}

/** The runtime description of this process (call after {@link initBackend}). */
export function runtimeInfo(): RuntimeInfo {
  const backend = tf.getBackend() ?? 'none';
  const c = cpus();
  const gpu = backendAdapter();
  const xnnpackThreads = backend === 'wasm' ? backendXnnpackThreads() : undefined;
  return {
    backend,
    // What the backend reports (wasm's product threads), else the machine's CPUs (tfjs-node and the GPU
    // backends do not say).
    threads: backend === 'cpu' ? 1 : (backendThreads() ?? availableParallelism()),
    ...(xnnpackThreads !== undefined ? { xnnpackThreads } : {}),
    ...(gpu ? { adapter: `${gpu.name}${gpu.software ? ' (software)' : ''}` } : {}),
    cpus: availableParallelism(),
    cpuModel: c[0]?.model?.trim() ?? 'unknown',
    node: process.version,
    platform: `${platform()}-${arch()}`,
    versions: packageVersions(),
  };
}
