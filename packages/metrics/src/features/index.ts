// Barrel of features/: the FeatureExtractor contract, the input pipelines and the browser-safe networks.
export {
  FID_INCEPTION_WEIGHTS,
  type FidExtractorOptions,
  FidInceptionExtractor,
  fidExtractorName,
  fidSpatialSize,
} from './fid-extractor.js';
export {
  FID_INCEPTION_CLASSES,
  FID_POOL_DIM,
  FID_SPATIAL_CHANNELS,
  type FidInceptionOutputs,
  FidInceptionV3,
} from './fid-inception.js';
export { FID_BN_EPS, type InitOptions } from './fid-inception-blocks.js';
export {
  KerasInception,
  NSFWJS_EXTRACTOR_NAME,
  type NsfwjsExtractorOptions,
  NsfwjsFeatureExtractor,
} from './nsfwjs-extractor.js';
export {
  admPreprocess,
  describePipeline,
  type FidPipeline,
  fidPreprocess,
  nsfwjsPreprocess,
  type PipelineOptions,
  type PixelQuantization,
  pytorchFidPreprocess,
  toPixelLevels,
} from './preprocess.js';
export type { ExtractedFeatures, FeatureDims, FeatureExtractor } from './types.js';
