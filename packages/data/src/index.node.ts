/**
 * @ldmae/data for Node: everything of the default entry plus image folders, IDX / npy / npz files,
 * PNG / JPEG codecs (pngjs, jpeg-js) and worker-thread prefetch for the loader.
 * @packageDocumentation
 */
import { setWorkerExecutorFactory } from './loader/loader.js';
import { createWorkerExecutor } from './node/worker-pool.js';

export * from './index.js';

setWorkerExecutorFactory(createWorkerExecutor);

export {
  decodeImage,
  encodeJpeg,
  encodePng,
  type ImageFormat,
  readImage,
  saveGrid,
  writeJpeg,
  writePng,
} from './node/codecs.js';
export { datasetFromSpec } from './node/dataset-from-spec.js';
export {
  arraysFile,
  FASHION_MNIST_CLASSES,
  FASHION_MNIST_DIR,
  fashionMnist,
  type IdxOptions,
  idx,
  readArraysFile,
  readIdxFile,
} from './node/files.js';
export {
  checkImageFiles,
  FileImageDataset,
  IMAGE_EXTENSIONS,
  type ImageFilesCheck,
  type ImageFolderOptions,
  imageFolder,
} from './node/image-folder.js';
export {
  FileLatentSource,
  type OpenLatentCacheOptions,
  openLatentCache,
  readLatentManifest,
  type WriteLatentCacheOptions,
  writeLatentCache,
} from './node/latent-files.js';
