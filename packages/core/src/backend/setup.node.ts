import { type BackendLoader, type SetupBackendOptions, setupBackendWith } from './setup.js';
import { webgpuNodeLoader } from './webgpu.node.js';

// Specifiers held in variables so bundlers do not try to resolve optional packages.
const importOptional = (name: string): Promise<unknown> => import(/* @vite-ignore */ name);

const wasm: BackendLoader = {
  tfName: 'wasm',
  install: 'Install it with `npm install @tensorflow/tfjs-backend-wasm`.',
  load: async (opts) => {
    const m = (await importOptional('@tensorflow/tfjs-backend-wasm')) as {
      setThreadsCount?: (n: number) => void;
    };
    if (opts.threads) m.setThreadsCount?.(opts.threads);
  },
};

const loaders = {
  tensorflow: [
    {
      tfName: 'tensorflow',
      install: 'Install `@tensorflow/tfjs-node-gpu` (CUDA) or `@tensorflow/tfjs-node`.',
      load: async () => void (await importOptional('@tensorflow/tfjs-node-gpu')),
    },
    {
      tfName: 'tensorflow',
      install: 'Install `@tensorflow/tfjs-node-gpu` (CUDA) or `@tensorflow/tfjs-node`.',
      load: async () => void (await importOptional('@tensorflow/tfjs-node')),
    },
  ],
  wasm: [wasm],
  cpu: [
    {
      tfName: 'cpu',
      install: 'Install it with `npm install @tensorflow/tfjs-backend-cpu`.',
      load: async () => void (await importOptional('@tensorflow/tfjs-backend-cpu')),
    },
  ],
  webgl: [
    {
      tfName: 'webgl',
      install: 'WebGL needs a browser (or a headless GL context) and `@tensorflow/tfjs-backend-webgl`.',
      load: async () => void (await importOptional('@tensorflow/tfjs-backend-webgl')),
    },
  ],
  webgpu: [webgpuNodeLoader(importOptional)],
} satisfies Record<string, BackendLoader[]>;

/**
 * Pick and initialise a TensorFlow.js backend (Node). 'auto' tries tfjs-node-gpu, WebGPU on a hardware
 * GPU (through the optional `webgpu` package), tfjs-node, wasm, then cpu. An explicit choice that
 * is not installed throws an error that says how to install it. An explicit 'webgpu' also accepts a
 * software adapter (Dawn's OpenGL ES backend on Mesa llvmpipe), which 'auto' skips.
 * Returns the tfjs name of the backend that was set; {@link backendAdapter} names the GPU.
 *
 * @example
 * ```ts
 * const name = await setupBackend({ backend: 'webgpu' }); // 'webgpu'
 * console.log(backendAdapter()?.name, backendAdapter()?.software);
 * ```
 */
export function setupBackend(opts: SetupBackendOptions = {}): Promise<string> {
  // A GPU through WebGPU beats tfjs-node on the CPU; tfjs-node-gpu (CUDA) stays first.
  return setupBackendWith(loaders, [['tensorflow', 0], 'webgpu', ['tensorflow', 1], 'wasm', 'cpu'], opts);
}
