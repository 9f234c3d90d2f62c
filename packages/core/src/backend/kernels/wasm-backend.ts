/**
 * What our wasm kernels need from tfjs-backend-wasm, typed structurally so that @ldmae/core never
 * imports the backend package (it stays an optional peer), plus a scope that runs the backend's own
 * kernels and frees what they made.
 */
import * as tf from '@tensorflow/tfjs-core';

/** Heap-backed typed array of a wasm tensor (a view: re-fetch it after any allocation). */
export type HeapArray = Float32Array | Int32Array | Uint8Array;

/** The part of tfjs-backend-wasm's `BackendWasm` that our kernels use. */
export interface WasmBackend {
  /** Allocate an (uninitialised) output on the wasm heap. May grow the heap and detach older views. */
  makeOutput(shape: number[], dtype: tf.DataType): tf.TensorInfo;
  /** A view of a tensor's bytes on the wasm heap. */
  typedArrayFromHeap(info: tf.TensorInfo): HeapArray;
  /** Drop one reference to `dataId`, freeing the memory at zero. */
  disposeData(dataId: tf.DataId): boolean;
}

/** Byte address of a tensor's data on the wasm heap (stable across heap growth, unlike a view). */
export function heapAddress(backend: WasmBackend, t: tf.TensorInfo): number {
  return backend.typedArrayFromHeap(t).byteOffset;
}

/** Arguments every kernel function receives. */
export interface KernelArgs {
  inputs: tf.NamedTensorInfoMap;
  backend: unknown;
  attrs?: tf.NamedAttrMap;
}

/**
 * Runs the wasm backend's registered kernels on TensorInfos and remembers every output, so one
 * `finish(result)` frees all intermediates. Kernels fetched this way skip the engine: no tensors are
 * created, no tape is recorded, and `tf.memory()` never sees the intermediates.
 */
export class KernelScope {
  private readonly made: tf.TensorInfo[] = [];

  constructor(readonly backend: WasmBackend) {}

  /** Run the wasm kernel `name`; its output is freed by `finish` unless it is the result. */
  run(name: string, inputs: tf.NamedTensorInfoMap, attrs: tf.NamedAttrMap = {}): tf.TensorInfo {
    const config = tf.getKernel(name, 'wasm');
    if (!config) throw new Error(`wasm kernels: the wasm backend has no '${name}' kernel to build on`);
    const out = config.kernelFunc({ inputs, attrs, backend: this.backend }) as tf.TensorInfo;
    this.made.push(out);
    return out;
  }

  /** Reshape without copying (the wasm Reshape kernel shares the buffer and counts a reference). */
  reshape(x: tf.TensorInfo, shape: number[]): tf.TensorInfo {
    return this.run('Reshape', { x }, { shape });
  }

  /** Remember an output made elsewhere (for example by a wrapped native kernel) so `finish` frees it. */
  track(info: tf.TensorInfo): tf.TensorInfo {
    this.made.push(info);
    return info;
  }

  /** Free an intermediate of this scope now rather than at `finish` (keeps peak memory down in loops). */
  free(info: tf.TensorInfo): void {
    const i = this.made.indexOf(info);
    if (i < 0) return;
    this.made.splice(i, 1);
    this.backend.disposeData(info.dataId);
  }

  /** Allocate an output and remember it. Fetch views with `view` only after the last allocation. */
  alloc(shape: number[], dtype: tf.DataType): tf.TensorInfo {
    const out = this.backend.makeOutput(shape, dtype);
    this.made.push(out);
    return out;
  }

  /** A fresh heap view of `info`. */
  view(info: tf.TensorInfo): HeapArray {
    return this.backend.typedArrayFromHeap(info);
  }

  /** Free every intermediate except `result`; a result that is one of the kernel's inputs is copied. */
  finish(result: tf.TensorInfo): tf.TensorInfo {
    const owned = this.made.includes(result);
    for (const t of this.made) if (t !== result) this.backend.disposeData(t.dataId);
    this.made.length = 0;
    return owned ? result : this.run('Identity', { x: result });
  }

  /** Free every intermediate (error path). */
  dispose(): void {
    for (const t of this.made) this.backend.disposeData(t.dataId);
    this.made.length = 0;
  }
}

/** Run `body` in a fresh scope; on error the intermediates are freed before rethrowing. */
export function withScope(backend: unknown, body: (s: KernelScope) => tf.TensorInfo): tf.TensorInfo {
  const scope = new KernelScope(backend as WasmBackend);
  try {
    return scope.finish(body(scope));
  } catch (e) {
    scope.dispose();
    throw e;
  }
}

/** Normalise a stride/dilation attribute to [height, width]. */
export function pair(v: number | number[] | undefined, fallback = 1): [number, number] {
  if (v === undefined || v === null) return [fallback, fallback];
  if (typeof v === 'number') return [v, v];
  return [v[0], v.length > 1 ? v[1] : v[0]];
}

/** Throw unless the kernel is asked for NHWC, the only layout the wasm convolutions implement. */
export function assertChannelsLast(kernel: string, dataFormat: unknown): void {
  if (
    dataFormat !== undefined &&
    dataFormat !== null &&
    dataFormat !== 'NHWC' &&
    dataFormat !== 'channelsLast'
  ) {
    throw new Error(`${kernel} (wasm): dataFormat must be 'NHWC', got '${String(dataFormat)}'`);
  }
}

/** Throw unless `actual` equals `expected` (shapes of kernel inputs tfjs derived from attributes). */
export function assertShape(
  kernel: string,
  arg: string,
  actual: readonly number[],
  expected: readonly number[],
): void {
  if (!tf.util.arraysEqual(actual as number[], expected as number[])) {
    throw new Error(
      `${kernel} (wasm): ${arg} must have shape [${expected.join(', ')}], got [${actual.join(', ')}]`,
    );
  }
}

/**
 * tfjs's NHWC Conv2DInfo of a convolution kernel's `strides`, `pad` and `dimRoundingMode` (and
 * `dilations`, unless given), after checking that `dy` has its output shape.
 */
export function convInfo(
  kernel: string,
  dy: tf.TensorInfo,
  xShape: readonly number[],
  filterShape: readonly number[],
  attrs: tf.NamedAttrMap,
  depthwise: boolean,
  dilations: number | [number, number] = pair(attrs.dilations as number | number[] | undefined),
): tf.backend_util.Conv2DInfo {
  const info = tf.backend_util.computeConv2DInfo(
    xShape as [number, number, number, number],
    filterShape as [number, number, number, number],
    attrs.strides as number | [number, number],
    dilations,
    attrs.pad as 'same' | 'valid' | number | tf.backend_util.ExplicitPadding,
    attrs.dimRoundingMode as 'floor' | 'round' | 'ceil' | undefined,
    depthwise,
    'channelsLast',
  );
  assertShape(kernel, 'dy', dy.shape, info.outShape);
  return info;
}

/**
 * The inputs `dy` and `input` (the forward input, rank-4 NHWC) and the Pool2DInfo of a pooling
 * gradient kernel's `filterSize`, `strides`, `pad` and `dimRoundingMode`, checked: `dy` has the
 * pool's output shape.
 */
export function poolGradient(
  kernel: string,
  { inputs, attrs = {} }: KernelArgs,
): { dy: tf.TensorInfo; x: tf.TensorInfo; info: tf.backend_util.Conv2DInfo } {
  const dy = input(kernel, inputs, 'dy');
  const x = input(kernel, inputs, 'input');
  if (x.shape.length !== 4) throw new Error(`${kernel} (wasm): input must be rank 4 NHWC, got [${x.shape}]`);
  const info = tf.backend_util.computePool2DInfo(
    x.shape as [number, number, number, number],
    attrs.filterSize as number | [number, number],
    attrs.strides as number | [number, number],
    1,
    attrs.pad as 'same' | 'valid' | number | tf.backend_util.ExplicitPadding,
    attrs.dimRoundingMode as 'floor' | 'round' | 'ceil' | undefined,
  );
  if (!tf.util.arraysEqual(dy.shape, info.outShape)) {
    throw new Error(`${kernel} (wasm): dy must have shape [${info.outShape}], got [${dy.shape}]`);
  }
  return { dy, x, info };
}

/**
 * The inputs and Conv2DInfo of a convolution gradient kernel, checked: a filter gradient (`kernel`
 * ending in 'Filter') takes `x` and `dy` and the attribute `filterShape`; an input gradient takes
 * `dy` and `filter` and the attribute `inputShape`. `operand` is `x` or `filter`.
 */
export function convGradient(
  kernel: string,
  { inputs, attrs = {} }: KernelArgs,
  depthwise: boolean,
  dilations?: number,
): { dy: tf.TensorInfo; operand: tf.TensorInfo; info: tf.backend_util.Conv2DInfo } {
  const ofFilter = kernel.endsWith('Filter');
  const first = input(kernel, inputs, ofFilter ? 'x' : 'dy');
  const second = input(kernel, inputs, ofFilter ? 'dy' : 'filter');
  const [operand, dy] = ofFilter ? [first, second] : [second, first];
  assertChannelsLast(kernel, attrs.dataFormat);
  if (operand.shape.length !== 4) {
    const what = ofFilter ? 'x must be rank 4 NHWC' : 'filter must be rank 4';
    throw new Error(`${kernel} (wasm): ${what}, got [${operand.shape}]`);
  }
  const xShape = ofFilter ? operand.shape : (attrs.inputShape as number[]);
  const filterShape = ofFilter ? (attrs.filterShape as number[]) : operand.shape;
  return { dy, operand, info: convInfo(kernel, dy, xShape, filterShape, attrs, depthwise, dilations) };
}

/** Input `name` of a kernel call, or an error naming it. */
export function input(kernel: string, inputs: tf.NamedTensorInfoMap, name: string): tf.TensorInfo {
  const t = inputs[name];
  if (!t) throw new Error(`${kernel} (wasm): input '${name}' is missing`);
  return t;
}
