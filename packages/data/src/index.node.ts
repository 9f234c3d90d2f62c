/**
 * @ldmae/data for Node: everything of the default entry plus image folders, IDX / npy / npz files,
 * PNG / JPEG codecs (pngjs, jpeg-js) and worker-thread prefetch for the loader.
 * @packageDocumentation
 */
import { setWorkerExecutorFactory } from './loader/loader.js';
import { createWorkerExecutor } from './node/worker-pool.js';

export * from './index.js';
export * from './node/codecs.js';
export * from './node/dataset-from-spec.js';
export * from './node/files.js';
export * from './node/image-folder.js';

setWorkerExecutorFactory(createWorkerExecutor);

export * from './node/latent-files.js';
