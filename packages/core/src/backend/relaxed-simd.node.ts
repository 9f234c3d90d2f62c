/**
 * WebAssembly relaxed SIMD in Node. It is part of WebAssembly 3.0 and on by default from V8 11.4
 * (Node 22 and later, every current browser); Node 20's V8 has it complete but behind
 * `--experimental-wasm-relaxed-simd`. Our float32 product kernel uses its fused multiply-add when the
 * engine validates it (up to 1.6-2x the throughput of a multiply and an add on this class of CPU) and
 * the plain form otherwise, so turning the flag on changes speed and the last bits of products only.
 */
import { setFlagsFromString } from 'node:v8';

/** A module whose one function uses `f32x4.relaxed_madd`. */
const PROBE = new Uint8Array([
  0x00,
  0x61,
  0x73,
  0x6d,
  0x01,
  0x00,
  0x00,
  0x00, // magic, version
  0x01,
  0x08,
  0x01,
  0x60,
  0x03,
  0x7b,
  0x7b,
  0x7b,
  0x01,
  0x7b, // type: (v128, v128, v128) -> v128
  0x03,
  0x02,
  0x01,
  0x00, // function 0 has type 0
  0x0a,
  0x0d,
  0x01,
  0x0b,
  0x00,
  0x20,
  0x00,
  0x20,
  0x01,
  0x20,
  0x02,
  0xfd,
  0x85,
  0x02,
  0x0b, // body
]);

/** Whether this engine validates relaxed SIMD now. */
export function hasRelaxedSimd(): boolean {
  try {
    return typeof WebAssembly === 'object' && WebAssembly.validate(PROBE);
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
