// Barrel of backend/ (entry-independent parts; each entry adds its own setupBackend).
export * from './kernels/index.js';
export type { BackendName, SetupBackendOptions } from './setup.js';
