// Everything of @ldmae/core that runs the same in Node and in the browser.

// Tensor files and checkpoints, re-exported so `@ldmae/core` keeps offering them; where the `node`
// condition applies this is @ldmae/io's Node entry, with file-system IO.
export * from '@ldmae/io';

export * from './backend/index.js';
export * from './data-source.js';
export * from './gradients.js';
export * from './model/index.js';
export * from './nn/index.js';
export * from './optim/index.js';
export * from './rng.js';
export * from './train/index.js';
