/**
 * WebAssembly relaxed SIMD in Node. It is part of WebAssembly 3.0 and on by default from V8 11.4
 * (Node 22 and later, every current browser); Node 20's V8 has it complete but behind
 * `--experimental-wasm-relaxed-simd`. Our float32 product kernel uses its fused multiply-add when the
 * engine validates it (up to 1.6-2x the throughput of a multiply and an add on this class of CPU) and
 * the plain form otherwise, so turning the flag on changes speed and the last bits of products only.
 */
import { setFlagsFromString } from 'node:v8';
import { assembleWasmModule, WASM_OP, WASM_SIMD_OP, WasmFunction } from '../wasm/assembler.js';

/** A module whose one function uses `f32x4.relaxed_madd` (and drops its result). */
function probe(): Uint8Array<ArrayBuffer> {
  const f = new WasmFunction('probe', []);
  f.zero().zero().zero().v(WASM_SIMD_OP.f32RelaxedMadd).op(WASM_OP.drop);
  return assembleWasmModule([f], false);
}

/** Whether this engine validates relaxed SIMD now. */
export function hasRelaxedSimd(): boolean {
  try {
    return typeof WebAssembly === 'object' && WebAssembly.validate(probe());
  } catch {
    return false;
  }
}

/**
 * Turn on V8's relaxed SIMD where it is still behind a flag; a no-op where it is already on. Must run
 * before the kernels that use it are compiled (they compile on first use). Returns whether relaxed
 * SIMD is available afterwards.
 */
export function enableRelaxedSimd(): boolean {
  if (hasRelaxedSimd()) return true;
  try {
    setFlagsFromString('--experimental-wasm-relaxed-simd');
  } catch {
    return false;
  }
  return hasRelaxedSimd();
}
