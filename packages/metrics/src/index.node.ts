/**
 * @ldmae/metrics for Node: everything of the default entry, plus weight files by path, the offline
 * nsfwjs feature extractor read from the installed package, and evaluations whose extractor defaults to
 * that offline one.
 * @packageDocumentation
 */

export {
  evaluateGeneration,
  evaluateReconstruction,
  latentSmoothness,
  readReferenceNpz,
  writeReferenceNpz,
} from './eval/defaults.node.js';
export { loadFidInceptionExtractor, loadOfflineFeatureExtractor } from './features/load.node.js';
export * from './index.js';
