// Barrel of optim/: every public name of this folder is exported here.
export * from './adamw.js';
export * from './clip.js';
export * from './ema.js';
export * from './schedule.js';
