/**
 * @ldmae/data: data sources (MNIST, IDX, npy/npz arrays), seeded transforms with torchvision's
 * semantics, the seeded loader, image grids, browser codecs and the latent cache.
 *
 * This entry runs anywhere (browser, web worker, Node). In Node the `node` export condition selects
 * `index.node.ts`, which adds file sources (image folders, IDX / npy files), PNG / JPEG codecs and
 * worker-thread prefetch.
 * @packageDocumentation
 */

/** Version of this package, kept equal to package.json by a test. */
export const VERSION = '0.1.0';

// What a user needs; the loaders' scheduling, batch packing, shard lookup and per-step checks
// stay internal.
export {
  type BrowserImageDecodeOptions,
  decodeImageBrowser,
  encodePngBrowser,
  imageFromRgba,
  imageToRgba,
} from './codecs/browser.js';
export {
  DEFAULT_MAX_PIXELS,
  type ImageDecodeOptions,
  type ImageHeader,
  readImageHeader,
} from './codecs/limits.js';
export {
  ArrayDataset,
  type ColorMode,
  DataError,
  type Dataset,
  type DatasetSpec,
  fromImages,
  type OnError,
  type SplitOptions,
  SubsetDataset,
  subset,
  trainTestSplit,
} from './dataset.js';
export { readIdx, writeIdx } from './formats/idx.js';
export { type GridOptions, makeGrid } from './grid.js';
export { type Image, imagesFromBatch, normalizeImage, type Sample, toUint8Image } from './image.js';
export { type EncodeLatentsOptions, encodeLatents } from './latent/encode.js';
export {
  LATENT_CACHE_FORMAT,
  LATENT_MANIFEST_FILE,
  type LatentCacheManifest,
  type LatentShardInfo,
} from './latent/format.js';
export {
  type LatentBatch,
  type LatentBatchData,
  LatentLoader,
  type LatentLoaderOptions,
} from './latent/loader.js';
export { type LatentItem, type LatentSource, MemoryLatentSource } from './latent/source.js';
export type { BatchData, BatchItem, Layout, SkippedItem } from './loader/batch.js';
export { type Batch, DataLoader, type LoaderOptions, type LoaderState } from './loader/loader.js';
export { type ArraysOptions, type ArraysSource, arrays } from './sources/arrays.js';
export { MNIST_CLASSES, mnist } from './sources/mnist.js';
export {
  cropImage,
  flipHorizontal,
  greyToRgb,
  type PadMode,
  padImage,
  rgbToGrey,
} from './transforms/geometry.js';
export { type Interpolation, resizeImage } from './transforms/resample.js';
export {
  admCenterCrop,
  admCenterCropImage,
  centerCrop,
  centerCropImage,
  compose,
  lambda,
  normalize,
  pad,
  type ResampleOptions,
  randomHorizontalFlip,
  randomResizedCrop,
  resize,
  roundHalfEven,
  type Transform,
  type TransformSpec,
  toGrey,
  toRgb,
} from './transforms/transforms.js';
