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

export * from './codecs/browser.js';
export {
  DEFAULT_MAX_PIXELS,
  type ImageDecodeOptions,
  type ImageHeader,
  readImageHeader,
} from './codecs/limits.js';
export * from './dataset.js';
export * from './formats/idx.js';
export * from './grid.js';
export * from './image.js';
export * from './latent/index.js';
export * from './loader/batch.js';
export * from './loader/loader.js';
export * from './loader/schedule.js';
export * from './seeds.js';
export * from './sources/arrays.js';
export * from './sources/mnist.js';
export * from './transforms/index.js';
