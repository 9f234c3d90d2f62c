// Barrel of features/: the FeatureExtractor contract, the input pipelines and the browser-safe networks.
export {
  FID_INCEPTION_WEIGHTS,
  type FidExtractorOptions,
  FidInceptionExtractor,
  fidExtractorName,
} from './fid-extractor.js';
export { type FidInceptionOutputs, FidInceptionV3 } from './fid-inception.js';
export type { InitOptions } from './fid-inception-blocks.js';
export {
  KerasInception,
  NSFWJS_EXTRACTOR_NAME,
  type NsfwjsExtractorOptions,
  NsfwjsFeatureExtractor,
} from './nsfwjs-extractor.js';
export {
  admPreprocess,
  type FidPipeline,
  fidPreprocess,
  nsfwjsPreprocess,
  type PipelineOptions,
  type PixelQuantization,
  pytorchFidPreprocess,
  toPixelLevels,
} from './preprocess.js';
export type { ExtractedFeatures, FeatureDims, FeatureExtractor } from './types.js';
