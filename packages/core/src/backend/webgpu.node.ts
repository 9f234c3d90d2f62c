/**
 * WebGPU in Node: the `webgpu` package (Dawn's Node bindings) provides `navigator.gpu`, which
 * `@tensorflow/tfjs-backend-webgpu` needs before it is imported (it registers its backend only when
 * `navigator.gpu` exists at import time).
 *
 * Two Dawn instances are tried, in order:
 * - 'default': Dawn's own choice (Vulkan on Linux, Metal on macOS, D3D12 on Windows), a hardware GPU;
 * - 'opengles': Dawn's OpenGL ES backend in WebGPU compatibility mode. On a machine without a GPU
 *   this is Mesa's llvmpipe (Dawn refuses Mesa's lavapipe Vulkan driver), slow but correct, which is
 *   how the WebGPU code path is tested without a GPU. Only an explicit `backend: 'webgpu'` uses it.
 */
import { existsSync, readdirSync } from 'node:fs';
import * as tf from '@tensorflow/tfjs-core';
import {
  type GpuAdapterInfoLike,
  type GpuAdapterSummary,
  setCurrentAdapter,
  summarizeAdapter,
} from './adapter.js';
import type { BackendLoader } from './setup.js';

/** What a user missing a part of the WebGPU route needs to install. */
export const WEBGPU_NODE_INSTALL =
  'WebGPU in Node needs the `webgpu` package (Dawn, prebuilt) and the tfjs backend: ' +
  '`npm install webgpu @tensorflow/tfjs-backend-webgpu`, plus a GPU driver with Vulkan ' +
  '(Linux: `apt-get install libvulkan1` and the vendor driver), Metal or D3D12. Without a GPU, ' +
  "Dawn's OpenGL ES route runs on Mesa's llvmpipe (slow, for testing): " +
  '`apt-get install libegl1 libegl-mesa0 libgles2 libgl1-mesa-dri`.';

/** The parts of a GPUAdapter we use. */
interface AdapterLike {
  info?: GpuAdapterInfoLike;
  isFallbackAdapter?: boolean;
}

/** The parts of `navigator.gpu` (GPU) we use. */
interface GpuLike {
  requestAdapter(options?: Record<string, unknown>): Promise<AdapterLike | null>;
  wgslLanguageFeatures?: unknown;
}

/** The `webgpu` package's exports. */
interface WebGpuModule {
  create(flags: string[]): GpuLike;
  globals: Record<string, unknown>;
}

interface Route {
  name: GpuAdapterSummary['route'];
  flags: string[];
  adapterOptions: Record<string, unknown>;
}

const ROUTES: readonly Route[] = [
  { name: 'default', flags: [], adapterOptions: { powerPreference: 'high-performance' } },
  { name: 'opengles', flags: ['backend=opengles'], adapterOptions: { featureLevel: 'compatibility' } },
];

/**
 * Whether this machine shows a GPU device at all. On Linux a GPU driver exposes /dev/nvidia* or a
 * DRM render node; without one, 'auto' does not load Dawn (whose Vulkan probe would only print warnings).
 */
function mayHaveGpu(): boolean {
  if (process.platform !== 'linux') return true;
  try {
    if (existsSync('/dev/nvidia0')) return true;
    return readdirSync('/dev/dri').some((f) => f.startsWith('renderD'));
  } catch {
    return false;
  }
}

/** First line of an error, for one-line summaries. */
const firstLine = (e: unknown): string => String((e as Error)?.message ?? e).split('\n')[0];

/**
 * Find an adapter: the first route that gives one, skipping software adapters unless they are allowed.
 * Returns the instance, the options to request it again with (tfjs requests its own) and its summary.
 */
async function findAdapter(
  mod: WebGpuModule,
  allowSoftware: boolean,
): Promise<{ gpu: GpuLike; route: Route; summary: GpuAdapterSummary }> {
  const seen: string[] = [];
  for (const route of ROUTES) {
    if (route.name === 'opengles' && !allowSoftware) continue;
    // Mesa's EGL needs a platform without a display server to open a GL context headless.
    if (route.name === 'opengles') process.env.EGL_PLATFORM ??= 'surfaceless';
    let adapter: AdapterLike | null;
    try {
      adapter = await mod.create(route.flags).requestAdapter(route.adapterOptions);
    } catch (e) {
      seen.push(`${route.name}: ${firstLine(e)}`);
      continue;
    }
    if (!adapter) {
      seen.push(`${route.name}: no adapter`);
      continue;
    }
    const summary = summarizeAdapter(adapter.info, route.name, adapter.isFallbackAdapter === true);
    if (summary.software && !allowSoftware) {
      seen.push(`${route.name}: only a software adapter (${summary.name})`);
      continue;
    }
    // A fresh instance for tfjs: the probe's adapter may only ever create one device.
    return { gpu: mod.create(route.flags), route, summary };
  }
  throw new Error(`no WebGPU adapter found (${seen.join('; ') || 'no route tried'})`);
}

/** The adapter of the WebGPU backend this process set up, once it is set up. */
let ready: GpuAdapterSummary | undefined;

/** Install `navigator.gpu` (Node 21+ has a `navigator` global of its own; Node 20 has none). */
function installNavigatorGpu(gpu: unknown): void {
  const g = globalThis as { navigator?: object };
  if (g.navigator && typeof g.navigator === 'object') {
    Object.defineProperty(g.navigator, 'gpu', { value: gpu, configurable: true, writable: true });
  } else {
    Object.defineProperty(globalThis, 'navigator', { value: { gpu }, configurable: true, writable: true });
  }
}

/**
 * The Node loader of the 'webgpu' backend. `importOptional` imports a package by name and
 * `hasGpuDevice` says whether the machine shows a GPU (parameters so tests can simulate either).
 */
export function webgpuNodeLoader(
  importOptional: (name: string) => Promise<unknown>,
  hasGpuDevice: () => boolean = mayHaveGpu,
): BackendLoader {
  return {
    tfName: 'webgpu',
    install: WEBGPU_NODE_INSTALL,
    load: async (opts) => {
      const explicit = opts.backend === 'webgpu';
      // Set up once per process: later calls (switching back from wasm, say) reuse the backend and its
      // device; a second Dawn instance beside a live device only costs memory and start-up time.
      if (ready && tf.findBackend('webgpu') && (explicit || !ready.software)) {
        setCurrentAdapter(ready);
        return;
      }
      if (!explicit && !hasGpuDevice())
        throw new Error('no GPU device on this machine (no /dev/nvidia0 or /dev/dri/renderD*)');
      let mod: WebGpuModule;
      try {
        mod = (await importOptional('webgpu')) as WebGpuModule;
      } catch (e) {
        throw new Error(`the 'webgpu' package could not be loaded (${firstLine(e)})`);
      }
      if (typeof mod?.create !== 'function')
        throw new Error("the 'webgpu' package has no create(): version 0.6 or later is expected");
      // 'auto' takes a hardware GPU only: on llvmpipe WebGPU ran 20-50x slower than wasm (docs/guide.md).
      const { gpu, route, summary } = await findAdapter(mod, explicit);
      // tfjs uses the WebGPU constants (GPUBufferUsage, GPUMapMode, ...) as globals.
      for (const [k, v] of Object.entries(mod.globals ?? {})) {
        if (!(k in globalThis))
          Object.defineProperty(globalThis, k, { value: v, configurable: true, writable: true });
      }
      // tfjs requests its adapter with only a powerPreference; the shim adds the route's options
      // (the OpenGL ES route has adapters only in compatibility mode).
      installNavigatorGpu({
        requestAdapter: (o?: Record<string, unknown>) =>
          gpu.requestAdapter({ ...o, ...route.adapterOptions }),
        getPreferredCanvasFormat: () => 'rgba8unorm',
        wgslLanguageFeatures: gpu.wgslLanguageFeatures,
      });
      try {
        await importOptional('@tensorflow/tfjs-backend-webgpu');
      } catch (e) {
        throw new Error(`'@tensorflow/tfjs-backend-webgpu' could not be loaded (${firstLine(e)})`);
      }
      if (!tf.findBackendFactory('webgpu'))
        throw new Error(
          "'@tensorflow/tfjs-backend-webgpu' was imported before navigator.gpu existed, so it registered no backend: call setupBackend before importing it",
        );
      ready = summary;
      setCurrentAdapter(summary);
    },
  };
}
