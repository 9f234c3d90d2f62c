/**
 * BatchMatMul for the wasm backend.
 *
 * Float32 products run on our own kernel (gemm-simd.ts) straight on the heap: the transpose flags
 * become strides, batches that share `b` become one product, and nothing is copied. Measured on a
 * 2-core AMD EPYC, one thread: a VMAE `f4d4-tiny` training step went from 236-255 to 150-159 ms and a
 * LightningDiT-Ti/1 step from 1.8-1.95 to 1.09-1.21 s. Our kernel is single-threaded, so when
 * XNNPACK has a pool of more than {@link OWN_PRODUCT_MAX_THREADS} threads the products go to XNNPACK.
 *
 * The XNNPACK route: tfjs-backend-wasm 4.22 hands a product to XNNPACK only when the batch is 1 and
 * neither operand is transposed; every other call, attention's q k^T and attn v among them, runs a
 * scalar C++ loop at 1-2.5 GFLOP/s. So we transpose flagged operands explicitly (wasm's Transpose
 * kernel), then run the backend's own C++ `BatchMatMul` entry once per batch on views: tensor ids
 * registered with the C++ side that point into the operands' and the output's heap buffers, so no
 * slice is ever copied. A batch-1 `b` shared by every batch of `a` becomes one [batch * M, K] x
 * [K, N] product.
 */
import * as tf from '@tensorflow/tfjs-core';
import {
  POOL_MIN_MACS,
  type ProductBases,
  type ProductShape,
  parallelScratchBytes,
  planPieces,
  productPool,
  runPiece,
} from './gemm-parallel.js';
import { type GemmKernels, gemmKernels } from './gemm-simd.js';
import { backendMemory } from './simd.js';
import {
  heapAddress,
  input,
  type KernelArgs,
  type KernelScope,
  type WasmBackend,
  withScope,
} from './wasm-backend.js';

/**
 * Largest XNNPACK thread pool for which float32 products run on our kernel on one thread, where no
 * product pool runs (see gemm-parallel.ts): on the 2-core machine it was faster at 1 and at 2 threads
 * (a VMAE step 274-280 -> 189-199 ms at 2); a larger pool is then left to XNNPACK, whose products use
 * every thread.
 */
export const OWN_PRODUCT_MAX_THREADS = 2;

let ownProducts = true;

/** Route float32 products through our kernel (true, the default) or XNNPACK (false). */
export function setOwnProducts(on: boolean): void {
  ownProducts = on;
}

type KernelFunc = (args: KernelArgs) => tf.TensorInfo;

/** The emscripten side of tfjs-backend-wasm's `BackendWasm` that the views need. */
interface WasmModule {
  cwrap(name: string, ret: null, args: string[]): (...args: unknown[]) => void;
  tfjs: {
    registerTensor(id: number, size: number, memoryOffset: number): void;
    disposeData(id: number): void;
  };
}

interface NativeBackend extends WasmBackend {
  wasm: WasmModule;
  dataIdMap: { get(dataId: tf.DataId): { id: number; memoryOffset: number } | undefined };
  dataIdNextNumber: number;
}

type BatchMatMulEntry = (
  aId: number,
  aShape: Uint8Array,
  aRank: number,
  bId: number,
  bShape: Uint8Array,
  bRank: number,
  transposeA: number,
  transposeB: number,
  outId: number,
) => void;

/** The C++ entry, wrapped once per emscripten module. */
const entries = new WeakMap<WasmModule, BatchMatMulEntry>();

function nativeEntry(backend: unknown): { be: NativeBackend; run: BatchMatMulEntry } | null {
  const be = backend as Partial<NativeBackend>;
  const wasm = be.wasm;
  if (
    !wasm ||
    typeof wasm.cwrap !== 'function' ||
    typeof wasm.tfjs?.registerTensor !== 'function' ||
    typeof wasm.tfjs?.disposeData !== 'function' ||
    typeof be.dataIdMap?.get !== 'function' ||
    typeof be.dataIdNextNumber !== 'number'
  ) {
    return null;
  }
  let run = entries.get(wasm);
  if (!run) {
    run = wasm.cwrap('BatchMatMul', null, [
      'number',
      'array',
      'number',
      'number',
      'array',
      'number',
      'number',
      'number',
      'number',
    ]) as BatchMatMulEntry;
    entries.set(wasm, run);
  }
  return { be: be as NativeBackend, run };
}

const shapeBytes = (shape: number[]) => new Uint8Array(new Int32Array(shape).buffer);

/** For each output batch, the batch of an operand with outer dims `dims`, broadcast to `full`. */
function batchIndices(dims: readonly number[], full: readonly number[]): Int32Array {
  const total = tf.util.sizeFromShape(full as number[]);
  const out = new Int32Array(total);
  const padded = [...new Array(full.length - dims.length).fill(1), ...dims];
  const strides = tf.util.computeStrides(padded);
  for (let o = 0; o < total; o++) {
    let rest = o;
    let idx = 0;
    for (let d = full.length - 1; d >= 0; d--) {
      const i = rest % full[d];
      rest = (rest - i) / full[d];
      if (padded[d] !== 1) idx += i * (d < full.length - 1 ? strides[d] : 1);
    }
    out[o] = idx;
  }
  return out;
}

/** A float32 product's operands and sizes, as BatchMatMul and _FusedMatMul take them. */
interface Product {
  a: tf.TensorInfo;
  b: tf.TensorInfo;
  tA: boolean;
  tB: boolean;
  m: number;
  k: number;
  n: number;
  outerA: number[];
  outerB: number[];
  batchA: number;
  batchB: number;
  outer: number[];
  batch: number;
}

/**
 * The product `args` ask for, or null where the native kernel should run it (not float32, malformed,
 * empty): it raises tfjs's own errors.
 */
function productOf(name: string, args: KernelArgs): Product | null {
  const { inputs, attrs = {} } = args;
  const a = input(name, inputs, 'a');
  const b = input(name, inputs, 'b');
  const tA = Boolean(attrs.transposeA);
  const tB = Boolean(attrs.transposeB);
  const ra = a.shape.length;
  const rb = b.shape.length;
  if (a.dtype !== 'float32' || b.dtype !== 'float32' || ra < 2 || rb < 2) return null;
  const m = tA ? a.shape[ra - 1] : a.shape[ra - 2];
  const k = tA ? a.shape[ra - 2] : a.shape[ra - 1];
  const kb = tB ? b.shape[rb - 1] : b.shape[rb - 2];
  const n = tB ? b.shape[rb - 2] : b.shape[rb - 1];
  const outerA = a.shape.slice(0, -2);
  const outerB = b.shape.slice(0, -2);
  if (k !== kb) return null;
  let outer: number[];
  try {
    outer = tf.backend_util.assertAndGetBroadcastShape(outerA, outerB);
  } catch {
    return null;
  }
  const batch = tf.util.sizeFromShape(outer);
  if (batch * m * n * k === 0) return null;
  const batchA = tf.util.sizeFromShape(outerA);
  const batchB = tf.util.sizeFromShape(outerB);
  return { a, b, tA, tB, m, k, n, outerA, outerB, batchA, batchB, outer, batch };
}

/** Our product kernel on `backend`'s heap, or null (no SIMD, or products routed to XNNPACK). */
function ownKernel(backend: unknown): { memory: WebAssembly.Memory; g: GemmKernels } | null {
  const memory = backendMemory(backend);
  const g = memory && ownProducts ? gemmKernels(memory) : null;
  return memory && g ? { memory, g } : null;
}

/** Run `p` on our kernel, adding the `bias` floats at that heap address to every row (0: none). */
function ownProduct(
  backend: unknown,
  { memory, g }: { memory: WebAssembly.Memory; g: GemmKernels },
  p: Product,
  bias: number,
): tf.TensorInfo {
  const { a, b, tA, tB, m, k, n, outerA, outerB, batchB, outer, batch } = p;
  const pool = productPool(memory);
  const threads = pool && batch * m * n * k >= POOL_MIN_MACS ? pool.threads : 1;
  return withScope(backend, (s) => {
    const out = s.alloc([batch, m, n], 'float32');
    const scratch = s.alloc([parallelScratchBytes(n, threads) / 4], 'float32');
    const [aBase, bBase, outBase, sp] = [a, b, out, scratch].map((t) =>
      heapAddress(backend as WasmBackend, t),
    );
    const aOp = (index: number) => ({
      base: aBase + index * m * k * 4,
      rowStride: tA ? 4 : k * 4,
      colStride: tA ? m * 4 : 4,
    });
    const bOp = (index: number) => ({
      base: bBase + index * k * n * 4,
      rowStride: tB ? 4 : n * 4,
      colStride: tB ? k * 4 : 4,
    });
    // The products (one of batch * M rows when every batch of a meets the one b), cut into a
    // share per thread; on one thread, the pieces are the products themselves.
    const one = batchB === 1 && !tA;
    const shape: ProductShape = {
      ars: aOp(0).rowStride,
      aks: aOp(0).colStride,
      brs: bOp(0).rowStride,
      bcs: bOp(0).colStride,
      ldc: n * 4,
      m: one ? batch * m : m,
      n,
      k,
      bias,
    };
    const aIdx = batchIndices(outerA, outer);
    const bIdx = batchIndices(outerB, outer);
    const products: ProductBases[] = one
      ? [{ a: aBase, b: bBase, c: outBase }]
      : Array.from({ length: batch }, (_, o) => ({
          a: aOp(aIdx[o]).base,
          b: bOp(bIdx[o]).base,
          c: outBase + o * m * n * 4,
        }));
    if (pool && threads > 1) {
      for (let i = 0; i < products.length; i += pool.capacity) {
        const { pieces, ends } = planPieces(products.slice(i, i + pool.capacity), shape, threads, sp);
        pool.run(g, pieces, ends);
      }
    } else {
      const { pieces } = planPieces(products, shape, 1, sp);
      for (let i = 0; i < products.length; i++) runPiece(g, pieces, i);
    }
    s.free(scratch);
    return s.reshape(out, outer.concat([m, n]));
  });
}

/**
 * Wrap the native wasm BatchMatMul `native`, which still runs non-float32 inputs and malformed calls
 * (it raises tfjs's own errors), and, when the products go to XNNPACK, batch-1 products without
 * transposes.
 *
 * Inputs: `a` [...batchA, M, K] (or [..., K, M] with transposeA), `b` [...batchB, K, N] (or
 * [..., N, K] with transposeB), batch dims broadcast as tf.matMul does. Returns [...batch, M, N].
 */
export function batchMatMulWasm(native: KernelFunc): KernelFunc {
  return (args: KernelArgs): tf.TensorInfo => {
    const { backend } = args;
    const p = productOf('BatchMatMul', args);
    if (!p) return native(args);
    const own = ownKernel(backend);
    if (own) return ownProduct(backend, own, p, 0);
    const { a, b, tA, tB, m, k, n, outerA, outerB, batchA, batchB, outer, batch } = p;
    if (!tA && !tB && batchA === 1 && batchB === 1) return native(args);
    const entry = nativeEntry(backend);
    if (!entry) return native(args);

    return withScope(backend, (s) => {
      // Operands as contiguous [batch, rows, cols] with no transpose left.
      const a3 = toRowMajor(s, a, [batchA, tA ? k : m, tA ? m : k], tA);
      const b3 = toRowMajor(s, b, [batchB, tB ? n : k, tB ? k : n], tB);
      const out = s.alloc([batch, m, n], 'float32');
      const { be, run } = entry;
      const offset = (t: tf.TensorInfo) => {
        const data = be.dataIdMap.get(t.dataId);
        if (!data) throw new Error('BatchMatMul (wasm): an operand is not on the wasm heap');
        return data.memoryOffset;
      };
      // Ids of live views, freed on every path; freeing one drops XNNPACK's operator cached on it.
      const live = new Set<number>();
      const view = (base: number, index: number, size: number) => {
        const id = be.dataIdNextNumber++;
        be.wasm.tfjs.registerTensor(id, size, base + index * size * 4);
        live.add(id);
        return id;
      };
      const free = (id: number) => {
        live.delete(id);
        be.wasm.tfjs.disposeData(id);
      };
      try {
        const aBase = offset(a3);
        const bBase = offset(b3);
        const outBase = offset(out);
        const bShape = shapeBytes([1, k, n]);
        if (batchB === 1) {
          // One XNNPACK call for all batches: the rows of every a[i] against the shared b.
          const rows = batchA * m;
          const aId = view(aBase, 0, rows * k);
          const bId = view(bBase, 0, k * n);
          run(aId, shapeBytes([1, rows, k]), 3, bId, bShape, 3, 0, 0, view(outBase, 0, rows * n));
        } else {
          const aIdx = batchIndices(outerA, outer);
          const bIdx = batchIndices(outerB, outer);
          const aShape = shapeBytes([1, m, k]);
          // A b used by several batches (broadcast) keeps its view and so its packed weights.
          const shared = batchB !== batch;
          const bViews = new Map<number, number>();
          for (let o = 0; o < batch; o++) {
            let bId = bViews.get(bIdx[o]);
            if (bId === undefined) {
              bId = view(bBase, bIdx[o], k * n);
              if (shared) bViews.set(bIdx[o], bId);
            }
            const aId = view(aBase, aIdx[o], m * k);
            const outId = view(outBase, o, m * n);
            run(aId, aShape, 3, bId, bShape, 3, 0, 0, outId);
            free(aId);
            free(outId);
            if (!shared) free(bId);
          }
        }
      } finally {
        for (const id of [...live]) free(id);
      }
      return s.reshape(out, outer.concat([m, n]));
    });
  };
}

/**
 * Wrap the native wasm _FusedMatMul (tf.fused.matMul) `native`: a float32 product with a bias of [N]
 * or [1] and no activation runs on our kernel, which adds the bias as it stores the sum (where tfjs
 * would run a product and then an Add over the whole output; tfjs-backend-wasm 4.22 also gave wrong
 * values for a bias of [1], against the cpu backend). Everything else goes to `native`.
 */
export function fusedMatMulWasm(native: KernelFunc): KernelFunc {
  return (args: KernelArgs): tf.TensorInfo => {
    const { inputs, backend, attrs = {} } = args;
    const bias = inputs.bias as tf.TensorInfo | undefined;
    const plain = (attrs.activation ?? 'linear') === 'linear' && !inputs.preluActivationWeights;
    const p = plain && bias?.dtype === 'float32' ? productOf('_FusedMatMul', args) : null;
    const rowOrOne = bias?.shape.length === 1 && (bias.shape[0] === p?.n || bias.shape[0] === 1);
    const own = p && rowOrOne ? ownKernel(backend) : null;
    if (!p || !own || !bias) return native(args);
    const be = backend as WasmBackend;
    if (bias.shape[0] === p.n) return ownProduct(be, own, p, heapAddress(be, bias));
    const row = be.makeOutput([p.n], 'float32');
    try {
      be.typedArrayFromHeap(row).fill(be.typedArrayFromHeap(bias)[0]);
      return ownProduct(be, own, p, heapAddress(be, row));
    } finally {
      be.disposeData(row.dataId);
    }
  };
}

/** `x` as [batch, rows, cols] row-major: a reshape, or a Transpose when `transposed`. */
function toRowMajor(s: KernelScope, x: tf.TensorInfo, shape: number[], transposed: boolean) {
  const x3 = s.reshape(x, shape);
  return transposed ? s.run('Transpose', { x: x3 }, { perm: [0, 2, 1] }) : x3;
}
