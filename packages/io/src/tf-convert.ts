/**
 * Moving host tensors into and out of TensorFlow.js. tfjs holds float32, int32 and bool only, so on the
 * way in float64 and half types become float32, int64 / int16 / int8 / uint8 become int32 (int64 with a
 * range check), and bool stays bool; on the way out the tfjs dtype is kept.
 */
import * as tf from '@tensorflow/tfjs-core';
import {
  castHostTensor,
  type HostDType,
  type HostTensor,
  type HostTensorDict,
  isHostTensor,
  setEntry,
} from './host-tensor.js';

const TF_DTYPE: Record<HostDType, 'float32' | 'int32' | 'bool'> = {
  float64: 'float32',
  float32: 'float32',
  float16: 'float32',
  bfloat16: 'float32',
  int64: 'int32',
  int32: 'int32',
  int16: 'int32',
  int8: 'int32',
  uint8: 'int32',
  bool: 'bool',
};

/** The tfjs dtype a host dtype becomes in {@link toTfTensor}. */
export function tfDTypeOf(dtype: HostDType): 'float32' | 'int32' | 'bool' {
  return TF_DTYPE[dtype];
}

/** The host tensor (float32 / int32 / bool) that {@link toTfTensor} uploads; throws naming `what` for int64 values beyond int32. */
function tfReady(h: HostTensor, what: string): HostTensor {
  if (!isHostTensor(h)) throw new TypeError(`${what}: expected a host tensor ({dtype, shape, data})`);
  const target = TF_DTYPE[h.dtype];
  return h.dtype === target ? h : castHostTensor(h, target, what);
}

/**
 * Upload a host tensor to the active tfjs backend. The caller owns the result.
 * @throws RangeError when an int64 value does not fit in int32 (naming `what`).
 */
export function toTfTensor(h: HostTensor, what = 'toTfTensor'): tf.Tensor {
  const r = tfReady(h, what);
  return tf.tensor(r.data as Float32Array | Int32Array | Uint8Array, r.shape, TF_DTYPE[h.dtype]);
}

/**
 * Upload a dict of host tensors. Every tensor is converted (and range checked) before the first upload,
 * so a bad entry leaves no tensors behind. The caller owns the results.
 */
export function toTfTensors(dict: HostTensorDict): Record<string, tf.Tensor> {
  const ready: [string, HostTensor, HostDType][] = Object.entries(dict).map(([k, h]) => [
    k,
    tfReady(h, `toTfTensors: '${k}'`),
    h.dtype,
  ]);
  const out: Record<string, tf.Tensor> = {};
  for (const [k, r, d] of ready) setEntry(out, k, tf.tensor(r.data as Float32Array, r.shape, TF_DTYPE[d]));
  return out;
}

function hostOf(t: tf.Tensor, data: ArrayLike<number> | Uint8Array, what: string): HostTensor {
  const shape = t.shape.slice();
  if (t.dtype === 'float32')
    return { dtype: 'float32', shape, data: Float32Array.from(data as Float32Array) };
  if (t.dtype === 'int32') return { dtype: 'int32', shape, data: Int32Array.from(data as Int32Array) };
  if (t.dtype === 'bool') return { dtype: 'bool', shape, data: Uint8Array.from(data as Uint8Array) };
  throw new TypeError(`${what}: tfjs dtype ${t.dtype} cannot be stored (expected float32, int32 or bool)`);
}

/** Download a tfjs tensor synchronously (dataSync) as a host tensor of the same dtype. */
export function fromTfTensor(t: tf.Tensor, what = 'fromTfTensor'): HostTensor {
  if (!(t instanceof tf.Tensor)) throw new TypeError(`${what}: expected a tf.Tensor`);
  if (t.isDisposed) throw new Error(`${what}: tensor is disposed`);
  return hostOf(t, t.dataSync() as Float32Array, what);
}

/** Download a tfjs tensor asynchronously (`data()`, friendlier to WebGL / WebGPU) as a host tensor. */
export async function fromTfTensorAsync(t: tf.Tensor, what = 'fromTfTensorAsync'): Promise<HostTensor> {
  if (!(t instanceof tf.Tensor)) throw new TypeError(`${what}: expected a tf.Tensor`);
  if (t.isDisposed) throw new Error(`${what}: tensor is disposed`);
  return hostOf(t, (await t.data()) as Float32Array, what);
}

/** Download a dict of tfjs tensors (asynchronously). The tfjs tensors stay the caller's. */
export async function fromTfTensors(dict: Record<string, tf.Tensor>): Promise<HostTensorDict> {
  const out: HostTensorDict = {};
  for (const [k, t] of Object.entries(dict))
    setEntry(out, k, await fromTfTensorAsync(t, `fromTfTensors: '${k}'`));
  return out;
}
