/**
 * @ldmae/io: tensor files (safetensors, PyTorch `.pth`, npy/npz) read and written in pure JS, a
 * pickle reader that only builds tensors, host tensors, PyTorch layouts, state-dict mapping and the
 * checksummed checkpoint codec (browser / default entry).
 *
 * In Node the `node` export condition selects `index.node.ts`, which adds file-system IO.
 * @packageDocumentation
 */
export { crc32, TensorFormatError } from './bytes.js';
export * from './checkpoint.js';
export * from './host-tensor.js';
export { fromTorchLayout, type ParamLayout, torchShape, toTorchLayout } from './layout.js';
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
