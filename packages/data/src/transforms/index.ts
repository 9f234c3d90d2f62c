// Barrel of transforms/.
export * from './geometry.js';
export * from './resample.js';
export * from './transforms.js';
