// Everything of @ldmae/core that runs the same in Node and in the browser.

export * from './backend/index.js';
export { atDoor } from './checks.js';
export * from './data-source.js';
export * from './gradients.js';
export * from './model/index.js';
export * from './nn/index.js';
export * from './optim/index.js';
export * from './rng.js';
export * from './train/index.js';
export * from './wasm/assembler.js';
