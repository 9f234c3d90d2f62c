// Barrel of eval/: the end-to-end evaluations and the labelled feature sets they compare.
export type { ImageCompressionStats } from './compression-stats.js';
export { tfDistanceBlock } from './distance-block.js';
export {
  type EvaluateReconstructionOptions,
  evaluateReconstruction,
  type ReconstructionOptions,
  type ReconstructionResult,
} from './evaluate-reconstruction.js';
export {
  computeReference,
  type FeatureReference,
  type FeatureSetOptions,
  frechetBetween,
  type GaussianStats,
} from './feature-set.js';
export { frechetDistanceFromSamples } from './frechet-samples.js';
export {
  type EvaluateGenerationOptions,
  evaluateGeneration,
  type GenerationPrecisionRecallOptions,
  type GenerationResult,
  type GenerationSampler,
} from './generation.js';
export {
  type CompressionStats,
  type LabelArray,
  type PerceptualCompressionOptions,
  type PerceptualCompressionResult,
  perceptualCompression,
  type SegmentationSource,
} from './perceptual-compression.js';
export type { LpipsLike, ReconstructionMetrics } from './reconstruction-metrics.js';
export {
  type ReferenceNpzOptions,
  referenceFromNpz,
  referenceToNpz,
} from './reference-npz.js';
export {
  type LatentSmoothnessOptions,
  type LatentSmoothnessResult,
  latentSmoothness,
  SMOOTHNESS_EPS,
  type SmoothnessPoint,
} from './smoothness.js';
export type { ImageBatchItem, ImageSource } from './source.js';
