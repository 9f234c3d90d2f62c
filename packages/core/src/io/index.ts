// Barrel of io/: the browser-safe tensor formats, checkpoint codec and state-dict mapping helpers.
// File-system helpers live in ./node.js (exported from index.node.ts only).
export { crc32, TensorFormatError } from './bytes.js';
export * from './checkpoint.js';
export * from './host-tensor.js';
export * from './mapping.js';
export * from './npy.js';
export {
  type PyCallable,
  PyDict,
  PyGlobal,
  PyObject,
  type UnpickleOptions,
  type UnpickleResult,
  unpickle,
} from './pickle.js';
export * from './safetensors.js';
export * from './tensor-file.js';
export * from './tf-convert.js';
export * from './torch.js';
export * from './zip.js';
