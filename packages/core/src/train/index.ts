// Barrel of train/: every public name of this folder is exported here.
export * from './checkpoint-payload.js';
export * from './loop.js';
export * from './progress.js';
