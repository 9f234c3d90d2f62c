/**
 * Backend choice in the browser: WebGPU, then WebGL, then wasm (@ldmae/core's setupBackend), with
 * the wasm backend's binaries served from this page's own assets.
 */
import { type BackendName, setupBackend } from '@ldmae/core';
import wasmUrl from '@tensorflow/tfjs-backend-wasm/dist/tfjs-backend-wasm.wasm?url';
import wasmSimdUrl from '@tensorflow/tfjs-backend-wasm/dist/tfjs-backend-wasm-simd.wasm?url';
import wasmThreadedUrl from '@tensorflow/tfjs-backend-wasm/dist/tfjs-backend-wasm-threaded-simd.wasm?url';

/** Backends the page offers; 'auto' tries webgpu, webgl, then wasm. */
export const BACKEND_CHOICES = ['auto', 'webgpu', 'webgl', 'wasm', 'cpu'] as const;

/** One of {@link BACKEND_CHOICES}. */
export type BackendChoice = (typeof BACKEND_CHOICES)[number];

/** The backend asked for by `?backend=` in a query string; 'auto' when absent or unknown. */
export function backendFromQuery(search: string): BackendChoice {
  const v = new URLSearchParams(search).get('backend');
  return (BACKEND_CHOICES as readonly string[]).includes(v ?? '') ? (v as BackendChoice) : 'auto';
}

let wasmPathsSet = false;

/** Initialise the backend `choice`; resolves to the tfjs name of the backend in use. */
export async function initBackend(choice: BackendChoice): Promise<string> {
  if (!wasmPathsSet && (choice === 'auto' || choice === 'wasm')) {
    // Vite copies the .wasm files into the build and gives their hashed URLs.
    const { setWasmPaths } = await import('@tensorflow/tfjs-backend-wasm');
    setWasmPaths({
      'tfjs-backend-wasm.wasm': wasmUrl,
      'tfjs-backend-wasm-simd.wasm': wasmSimdUrl,
      'tfjs-backend-wasm-threaded-simd.wasm': wasmThreadedUrl,
    });
    wasmPathsSet = true;
  }
  return setupBackend({ backend: choice as BackendName });
}
