// Barrel of backend/ (entry-independent parts; each entry adds its own setupBackend).

export { backendAdapter, type GpuAdapterSummary } from './adapter.js';
export { registerMissingKernels, WASM_KERNELS, WEBGPU_KERNELS } from './kernels/index.js';
export {
  type BackendName,
  backendThreads,
  backendXnnpackThreads,
  type SetupBackendOptions,
} from './setup.js';
export { canReadSync } from './sync-read.js';
