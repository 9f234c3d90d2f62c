/**
 * The offline feature extractor: the InceptionV3 shipped (MIT) by the npm package `nsfwjs` 4.4.0, run up
 * to its 2048-d pool feature (`flatten_1`).
 *
 * It is NOT the FID network: its stem through mixed5 are Keras's ImageNet InceptionV3 weights (nsfwjs
 * kept them frozen), but mixed6 through mixed10 - everything the pool feature depends on most - were
 * fine-tuned by nsfwjs to classify 5 NSFW classes, and the weights are stored uint8-quantised. Scores on
 * it are useful for comparing models with each other here, never with published FIDs; they carry the
 * name {@link NSFWJS_EXTRACTOR_NAME}.
 *
 * The Keras graph is read by `@ldmae/losses`' KerasGraph: each Conv2D -> BatchNormalization (moving
 * statistics, eps from the config) -> ReLU chain runs as one fused conv with the BatchNorm folded in.
 * The model's last pool is an 8x8 'valid' average pool over mixed10's 8x8 map at 299 x 299; it is taken
 * as a global average, which is the same there and lets smaller inputs (>= 75 px) through.
 */
import { KerasGraph, kerasModelLayers, type NsfwjsInceptionSource } from '@ldmae/losses';
import * as tf from '@tensorflow/tfjs-core';
import { describePipeline, nsfwjsPreprocess, type PipelineOptions } from './preprocess.js';
import { type ExtractedFeatures, extractInSlices, type FeatureExtractor } from './types.js';

/** Name of the offline extractor at its native 299 x 299 input. */
export const NSFWJS_EXTRACTOR_NAME = 'nsfwjs-4.4.0-inceptionv3:flatten_1';

/** The layer whose output is globally averaged into the 2048-d feature. */
const LAST = 'mixed10';

/**
 * The nsfwjs Keras InceptionV3 from its input to mixed10, read by `@ldmae/losses`' {@link KerasGraph}
 * (convs run as `tf.fused.conv2d` with BatchNorm and ReLU folded in). Owns its weight tensors.
 */
export class KerasInception {
  private readonly graph: KerasGraph;

  /**
   * @throws naming the layer, when the JSON is not a tfjs layers model, or a layer before mixed10 is of
   *   a kind it cannot run.
   */
  constructor(source: NsfwjsInceptionSource) {
    const layers = kerasModelLayers(source, 'KerasInception');
    if (!layers.some((l) => l.name === LAST))
      throw new Error(`KerasInception: the model has no layer '${LAST}' (not the nsfwjs InceptionV3?)`);
    this.graph = new KerasGraph(source, { outputs: [LAST], owner: 'KerasInception' });
  }

  /**
   * Runs the graph on [n, H, W, 3] (H, W >= 75; the model expects [0, 1] values at 299 x 299).
   *
   * @param taps - layer names whose outputs to return besides the pool feature (e.g. 'mixed5').
   * @returns pool [n, 2048] (global average of mixed10) and the taps; the caller owns them.
   */
  forward(x: tf.Tensor4D, taps: readonly string[] = []): { pool: tf.Tensor2D; taps: tf.Tensor4D[] } {
    if (!(x instanceof tf.Tensor) || x.rank !== 4 || x.shape[3] !== 3 || x.shape[1] < 75 || x.shape[2] < 75)
      throw new Error(
        `KerasInception.forward: x must be [n, H, W, 3] with H, W >= 75, got ${x instanceof tf.Tensor ? `[${x.shape}]` : typeof x}`,
      );
    return tf.tidy(() => {
      const [last, ...t] = this.graph.run(x, LAST, [LAST, ...taps]);
      return { pool: tf.mean(last, [1, 2]) as tf.Tensor2D, taps: t };
    });
  }

  /** Release the weights; `forward` throws afterwards. */
  dispose(): void {
    this.graph.dispose();
  }
}

/** Options of {@link NsfwjsFeatureExtractor}. */
export interface NsfwjsExtractorOptions extends PipelineOptions {
  /** Images per forward pass inside `extract`. Default 8. */
  maxBatch?: number;
}

/**
 * The offline {@link FeatureExtractor}: pool features (2048) of the nsfwjs InceptionV3 (see the module
 * notes for what it is and is not). No spatial feature and no logits, so no sFID and no IS. Owns the
 * network.
 */
export class NsfwjsFeatureExtractor implements FeatureExtractor {
  readonly name: string;
  readonly preprocessing: string;
  readonly dims = { pool: 2048 };
  readonly net: KerasInception;
  private readonly opts: PipelineOptions;
  private readonly maxBatch: number;

  constructor(source: NsfwjsInceptionSource | KerasInception, opts: NsfwjsExtractorOptions = {}) {
    const size = opts.size ?? 299;
    if (!Number.isInteger(size) || size < 75)
      throw new RangeError(`NsfwjsFeatureExtractor: opts.size must be an integer >= 75, got ${size}`);
    const maxBatch = opts.maxBatch ?? 8;
    if (!Number.isInteger(maxBatch) || maxBatch < 1)
      throw new RangeError(
        `NsfwjsFeatureExtractor: opts.maxBatch must be a positive integer, got ${maxBatch}`,
      );
    this.opts = { size, quantize: opts.quantize ?? 'ldmae' };
    this.maxBatch = maxBatch;
    this.net = source instanceof KerasInception ? source : new KerasInception(source);
    this.name = size === 299 ? NSFWJS_EXTRACTOR_NAME : `${NSFWJS_EXTRACTOR_NAME}@${size}`;
    this.preprocessing =
      `${describePipeline('nsfwjs', this.opts)}; features: global average of mixed10 = flatten_1 (2048). ` +
      'Stem..mixed5 are Keras ImageNet InceptionV3 weights; mixed6..mixed10 were fine-tuned by nsfwjs for 5 NSFW classes ' +
      '(uint8-quantised): not the FID Inception, not comparable with published FIDs';
  }

  async extract(images: tf.Tensor4D): Promise<ExtractedFeatures> {
    const [pool] = await extractInSlices(this.name, images, this.maxBatch, [2048], (x) => [
      this.net.forward(nsfwjsPreprocess(x, this.opts)).pool,
    ]);
    return { pool };
  }

  dispose(): void {
    this.net.dispose();
  }
}
