import { type BackendLoader, type SetupBackendOptions, setupBackendWith } from './setup.js';

const loader = (tfName: string, pkg: string, load: () => Promise<unknown>): BackendLoader => ({
  tfName,
  install: `Install it with \`npm install ${pkg}\` (and make sure the browser supports it).`,
  load: async () => void (await load()),
});

let wasmPackage: typeof import('@tensorflow/tfjs-backend-wasm') | undefined;

const unavailable: BackendLoader = {
  tfName: 'tensorflow',
  install: 'The native TensorFlow backend exists only in Node (@tensorflow/tfjs-node).',
  load: async () => {
    throw new Error('not available in the browser');
  },
};

const loaders = {
  tensorflow: [unavailable],
  webgpu: [
    loader('webgpu', '@tensorflow/tfjs-backend-webgpu', async () => {
      if (!(globalThis as { navigator?: { gpu?: unknown } }).navigator?.gpu)
        throw new Error('navigator.gpu is not defined');
      return import('@tensorflow/tfjs-backend-webgpu');
    }),
  ],
  webgl: [loader('webgl', '@tensorflow/tfjs-backend-webgl', () => import('@tensorflow/tfjs-backend-webgl'))],
  wasm: [
    {
      ...loader('wasm', '@tensorflow/tfjs-backend-wasm', () => import('@tensorflow/tfjs-backend-wasm')),
      load: async (opts) => {
        wasmPackage = await import('@tensorflow/tfjs-backend-wasm');
        // tfjs runs threads only on cross-origin-isolated pages; it caps the count itself.
        if (opts.threads) wasmPackage.setThreadsCount(opts.threads);
      },
      threads: () => wasmPackage?.getThreadsCount(),
      xnnpackThreads: () => wasmPackage?.getThreadsCount(),
    },
  ],
  cpu: [
    {
      ...loader('cpu', '@tensorflow/tfjs-backend-cpu', () => import('@tensorflow/tfjs-backend-cpu')),
      threads: () => 1,
    },
  ],
} satisfies Record<string, BackendLoader[]>;

/**
 * Pick and initialise a TensorFlow.js backend (browser). 'auto' tries WebGPU, WebGL, then wasm.
 * Returns the tfjs name of the backend that was set.
 */
export function setupBackend(opts: SetupBackendOptions = {}): Promise<string> {
  return setupBackendWith(loaders, ['webgpu', 'webgl', 'wasm'], opts);
}
