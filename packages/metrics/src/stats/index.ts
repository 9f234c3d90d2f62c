export type { FloatArray } from './checks.js';
export {
  type SymmetricEigen,
  type SymmetricEigenOptions,
  symmetricEigen,
  symmetricEigenvalues,
} from './eigen.js';
export { FeatureStats, type FeatureStatsJSON, featureStats } from './feature-stats.js';
export { type FrechetOptions, frechetDistance } from './frechet.js';
export { type InceptionScore, type InceptionScoreOptions, inceptionScore } from './inception-score.js';
export {
  type DistanceBlockFn,
  manifoldRadii,
  type PrecisionRecall,
  type PrecisionRecallOptions,
  pairwiseSquaredDistances,
  precisionRecall,
} from './precision-recall.js';
export { setStatsThreads, statsThreads } from './wasm.js';
