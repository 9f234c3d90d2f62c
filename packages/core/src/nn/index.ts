// Barrel of nn/: every public name of this folder is exported here.
export * from './module.js';
