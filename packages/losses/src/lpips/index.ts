// Barrel of lpips/: the head, the trunk contract and the browser-safe trunks.
export * from './frozen-conv.js';
export * from './inception-trunk.js';
export * from './lpips.js';
export * from './nsfwjs-source.js';
export * from './torchvision-trunk.js';
export * from './trunk.js';
