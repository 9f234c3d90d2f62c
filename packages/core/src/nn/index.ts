// Barrel of nn/: every public name of this folder is exported here.

export * from './activations.js';
export * from './attention.js';
export * from './block.js';
export * from './conv2d.js';
export * from './group-norm.js';
export * from './init.js';
export * from './layer-norm.js';
export * from './linear.js';
export * from './mlp.js';
export * from './module.js';
export * from './normalize.js';
export * from './patchify.js';
export * from './posembed.js';
export * from './rms-norm.js';
export * from './rope.js';
export * from './swiglu.js';
export * from './timestep.js';
