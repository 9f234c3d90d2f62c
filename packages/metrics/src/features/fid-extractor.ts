/** The FID Inception behind the {@link FeatureExtractor} contract, with either reference pipeline. */
import * as tf from '@tensorflow/tfjs-core';
import {
  FID_INCEPTION_CLASSES,
  FID_POOL_DIM,
  FID_SPATIAL_CHANNELS,
  FidInceptionV3,
} from './fid-inception.js';
import { describePipeline, type FidPipeline, fidPreprocess, type PipelineOptions } from './preprocess.js';
import { type ExtractedFeatures, extractInSlices, type FeatureDims, type FeatureExtractor } from './types.js';

/** The label of the 2015-12-05 TensorFlow Inception weights as pytorch-fid ports them. */
export const FID_INCEPTION_WEIGHTS = 'pt_inception-2015-12-05';

/**
 * Name of the FID Inception extractor for a pipeline, weights label and input size. The ADM evaluator's
 * reference statistics (e.g. VIRTUAL_imagenet256_labeled.npz) are in the feature space of
 * `fidExtractorName('adm')`.
 */
export function fidExtractorName(pipeline: FidPipeline, weights = FID_INCEPTION_WEIGHTS, size = 299): string {
  return `inception-v3-fid[${weights}]:${pipeline}${size === 299 ? '' : `@${size}`}`;
}

/** Side of the Mixed_6d feature map for a size x size input (17 at 299). */
export function fidSpatialSize(size: number): number {
  const valid = (h: number, k: number, s: number) => Math.floor((h - k) / s) + 1;
  let h = valid(size, 3, 2); // Conv2d_1a_3x3
  h = valid(h, 3, 1); // Conv2d_2a_3x3 (2b keeps the size)
  h = valid(h, 3, 2); // maxpool1
  h = valid(h, 3, 1); // Conv2d_4a_3x3
  h = valid(h, 3, 2); // maxpool2
  return valid(h, 3, 2); // Mixed_6a
}

/** Options of {@link FidInceptionExtractor}. */
export interface FidExtractorOptions extends PipelineOptions {
  /** Default 'adm' (the generation metrics); 'pytorch-fid' for the reconstruction metrics (rFID). */
  pipeline?: FidPipeline;
  /**
   * Label of the weights, part of the extractor's name. Default {@link FID_INCEPTION_WEIGHTS}, allowed
   * only once the network has loaded a state dict strictly; any other weights (random ones in a test)
   * must be named.
   */
  weights?: string;
  /** Add fc.bias to the IS logits. Default false: the ADM evaluator multiplies by the weight only. */
  logitsBias?: boolean;
  /** Images per forward pass inside `extract` (memory bound). Default 16. */
  maxBatch?: number;
}

/**
 * FID / sFID / IS features from the FID Inception: pool3 (2048), Mixed_6d.branch1x1's first 7 channels
 * flattened in (h, w, c) order (17 x 17 x 7 = 2023 at 299, the ADM evaluator's sFID feature), and the
 * 1008 logits pool3 W^T. Owns the network: `dispose()` releases it.
 */
export class FidInceptionExtractor implements FeatureExtractor {
  readonly name: string;
  readonly preprocessing: string;
  readonly dims: Required<FeatureDims>;
  readonly net: FidInceptionV3;
  private readonly pipeline: FidPipeline;
  private readonly opts: PipelineOptions;
  private readonly logitsBias: boolean;
  private readonly maxBatch: number;

  constructor(net: FidInceptionV3, opts: FidExtractorOptions = {}) {
    const fn = 'FidInceptionExtractor';
    if (!(net instanceof FidInceptionV3)) throw new TypeError(`${fn}: net must be a FidInceptionV3`);
    const pipeline = opts.pipeline ?? 'adm';
    fidPreprocess(pipeline);
    if (opts.weights === undefined && !net.weightsLoaded) {
      throw new Error(
        `${fn}: the network has no loaded weights; load the 2015 weights (net.loadStateDict, or loadFidInceptionExtractor in Node) or name the weights in opts.weights`,
      );
    }
    if (opts.weights !== undefined && (typeof opts.weights !== 'string' || !/^[\w.+-]+$/.test(opts.weights)))
      throw new RangeError(`${fn}: opts.weights must be a label of letters, digits, '.', '_', '+', '-'`);
    const size = opts.size ?? 299;
    if (!Number.isInteger(size) || size < 75)
      throw new RangeError(`${fn}: opts.size must be an integer >= 75, got ${size}`);
    const maxBatch = opts.maxBatch ?? 16;
    if (!Number.isInteger(maxBatch) || maxBatch < 1)
      throw new RangeError(`${fn}: opts.maxBatch must be a positive integer, got ${maxBatch}`);
    this.net = net;
    this.pipeline = pipeline;
    this.opts = { size, quantize: opts.quantize ?? 'ldmae' };
    this.logitsBias = opts.logitsBias ?? false;
    this.maxBatch = maxBatch;
    this.name = fidExtractorName(pipeline, opts.weights ?? FID_INCEPTION_WEIGHTS, size);
    const s = fidSpatialSize(size);
    this.dims = { pool: FID_POOL_DIM, spatial: s * s * FID_SPATIAL_CHANNELS, logits: FID_INCEPTION_CLASSES };
    this.preprocessing =
      `${describePipeline(pipeline, this.opts)}; features: pool3 (2048), Mixed_6d.branch1x1 channels 0-6 ` +
      `flattened (h, w, c) (${this.dims.spatial}), logits pool3 fc.weight^T${this.logitsBias ? ' + fc.bias' : ' (no bias)'} (1008)`;
  }

  async extract(images: tf.Tensor4D): Promise<ExtractedFeatures> {
    const prep = fidPreprocess(this.pipeline);
    const widths = [this.dims.pool, this.dims.spatial, this.dims.logits];
    const [pool, spatial, logits] = await extractInSlices(this.name, images, this.maxBatch, widths, (x) => {
      const o = this.net.forward(prep(x, this.opts), {
        spatial: true,
        logits: true,
        logitsBias: this.logitsBias,
      });
      const sp = tf.slice(o.spatial as tf.Tensor4D, [0, 0, 0, 0], [-1, -1, -1, FID_SPATIAL_CHANNELS]);
      return [o.pool, tf.reshape(sp, [x.shape[0], -1]), o.logits as tf.Tensor2D];
    });
    return { pool, spatial, logits };
  }

  dispose(): void {
    this.net.dispose();
  }
}
