// Barrel of optim/: the optimiser, EMA, schedules and clipping (the EMA state check stays internal).
export {
  AdamW,
  type AdamWHyperParams,
  type AdamWOptions,
  type AdamWState,
  type AdamWStateJson,
  type NoDecay,
} from './adamw.js';
export { type ClipResult, clipByGlobalNorm, clipByGlobalNormAsync } from './clip.js';
export { EMA, type EMAOptions, type EMAStateJson } from './ema.js';
export {
  type ConstantLrOptions,
  constantLr,
  type LrSchedule,
  type WarmupCosineOptions,
  warmupCosineLr,
  warmupCosineLrAt,
} from './schedule.js';
