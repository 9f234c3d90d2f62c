/**
 * The input pipelines of the feature networks: from [-1, 1] NHWC images to what each reference feeds its
 * Inception.
 *
 * - ADM evaluator (openai/guided-diffusion evaluations/evaluator.py, the generation metrics): uint8
 *   images as floats in [0, 255] go into the 2015 TensorFlow graph, which resizes them to 299 x 299 with
 *   TF1's legacy bilinear (align_corners false, half_pixel_centers false: source = dst * in / out) and
 *   then scales (x - 128) / 128.
 * - pytorch-fid (LightningDiT's evaluate_tokenizer.py, the reconstruction metrics): PNG pixels / 255,
 *   `F.interpolate(size=(299, 299), mode='bilinear', align_corners=False)` (half-pixel centres: source =
 *   (dst + 0.5) * in / out - 0.5, clamped at 0), then 2 x - 1.
 * - nsfwjs: pixels / 255, `tf.image.resizeBilinear(x, [299, 299], alignCorners = true)` when the size
 *   differs, no further scaling (what nsfwjs itself does before its InceptionV3).
 *
 * Both references read images that were saved as uint8 first, so the pipelines quantise by default.
 */
import { atDoor } from '@ldmae/core';
import * as tf from '@tensorflow/tfjs-core';

/**
 * How [-1, 1] floats become the uint8 levels the references read:
 * - 'ldmae': floor(clamp(127.5 x + 128, 0, 255)), how LightningDiT / DiT save samples and
 *   reconstructions (the LDMAE paper's numbers; {@link quantizeToUint8} does the same on arrays);
 * - 'adm': floor(clamp(127.5 (x + 1), 0, 255)), how guided-diffusion's samplers save them;
 * - 'none': 127.5 (x + 1) without rounding.
 */
export type PixelQuantization = 'ldmae' | 'adm' | 'none';

/** Options shared by the pipelines. */
export interface PipelineOptions {
  /** Side of the square network input. Default 299; anything else departs from the references. */
  size?: number;
  /** Default 'ldmae'. */
  quantize?: PixelQuantization;
}

/** The input pipelines by name. */
export type FidPipeline = 'adm' | 'pytorch-fid';

function checkOptions(x: tf.Tensor, opts: PipelineOptions): [number, PixelQuantization] {
  if (!(x instanceof tf.Tensor) || x.rank !== 4 || x.shape[3] !== 3) {
    throw new Error(
      `images must be a tf.Tensor4D [n, H, W, 3] (NHWC) in [-1, 1], got ${x instanceof tf.Tensor ? `[${x.shape}]` : typeof x}`,
    );
  }
  const size = opts.size ?? 299;
  if (!Number.isInteger(size) || size < 1)
    throw new RangeError(`opts.size must be a positive integer, got ${size}`);
  const q = opts.quantize ?? 'ldmae';
  if (q !== 'ldmae' && q !== 'adm' && q !== 'none')
    throw new RangeError(`opts.quantize must be 'ldmae', 'adm' or 'none', got ${String(q)}`);
  return [size, q];
}

/**
 * [-1, 1] images to pixel levels in [0, 255] (integers unless `quantize` is 'none'); float32 steps,
 * like the references' torch ops.
 *
 * @param x - [n, H, W, C] in [-1, 1].
 * @returns [n, H, W, C] float32; the caller owns it.
 */
export function toPixelLevels(x: tf.Tensor4D, quantize: PixelQuantization = 'ldmae'): tf.Tensor4D {
  return tf.tidy(() => {
    if (quantize === 'none') return tf.mul(tf.add(x, 1), 127.5) as tf.Tensor4D;
    const v = quantize === 'adm' ? tf.mul(tf.add(x, 1), 127.5) : tf.add(tf.mul(x, 127.5), 128);
    return tf.floor(tf.clipByValue(v, 0, 255)) as tf.Tensor4D;
  });
}

function resize(x: tf.Tensor4D, size: number, alignCorners: boolean, halfPixel: boolean): tf.Tensor4D {
  // Same size: every bilinear convention is the identity there.
  if (x.shape[1] === size && x.shape[2] === size) return x;
  return tf.image.resizeBilinear(x, [size, size], alignCorners, halfPixel);
}

/**
 * The ADM evaluator's pipeline: pixel levels in [0, 255], TF1 legacy bilinear resize to size x size,
 * then (x - 128) / 128.
 *
 * @param x - [n, H, W, 3] in [-1, 1].
 * @returns [n, size, size, 3] roughly in [-1, 1]; the caller owns it.
 */
export function admPreprocess(x: tf.Tensor4D, opts: PipelineOptions = {}): tf.Tensor4D {
  const [size, q] = atDoor('admPreprocess', () => checkOptions(x, opts));
  return tf.tidy(
    () => tf.div(tf.sub(resize(toPixelLevels(x, q), size, false, false), 128), 128) as tf.Tensor4D,
  );
}

/**
 * pytorch-fid's pipeline: pixel levels / 255, half-pixel bilinear resize to size x size (PyTorch's
 * `align_corners=False`), then 2 x - 1.
 *
 * @param x - [n, H, W, 3] in [-1, 1].
 * @returns [n, size, size, 3] in [-1, 1]; the caller owns it.
 */
export function pytorchFidPreprocess(x: tf.Tensor4D, opts: PipelineOptions = {}): tf.Tensor4D {
  const [size, q] = atDoor('pytorchFidPreprocess', () => checkOptions(x, opts));
  return tf.tidy(() => {
    const v = tf.div(toPixelLevels(x, q), 255) as tf.Tensor4D;
    return tf.sub(tf.mul(resize(v, size, false, true), 2), 1) as tf.Tensor4D;
  });
}

/**
 * nsfwjs's own pipeline: pixel levels / 255, then a bilinear resize with align_corners true when the
 * size differs.
 *
 * @param x - [n, H, W, 3] in [-1, 1].
 * @returns [n, size, size, 3] in [0, 1]; the caller owns it.
 */
export function nsfwjsPreprocess(x: tf.Tensor4D, opts: PipelineOptions = {}): tf.Tensor4D {
  const [size, q] = atDoor('nsfwjsPreprocess', () => checkOptions(x, opts));
  return tf.tidy(() => resize(tf.div(toPixelLevels(x, q), 255) as tf.Tensor4D, size, true, false));
}

/** The function of a named FID pipeline. */
export function fidPreprocess(
  pipeline: FidPipeline,
): (x: tf.Tensor4D, opts?: PipelineOptions) => tf.Tensor4D {
  if (pipeline === 'adm') return admPreprocess;
  if (pipeline === 'pytorch-fid') return pytorchFidPreprocess;
  throw new RangeError(`fidPreprocess: pipeline must be 'adm' or 'pytorch-fid', got ${String(pipeline)}`);
}

/** A one-line description of a pipeline, as {@link FeatureExtractor.preprocessing} reports it. */
export function describePipeline(pipeline: FidPipeline | 'nsfwjs', opts: PipelineOptions = {}): string {
  const size = opts.size ?? 299;
  const q = opts.quantize ?? 'ldmae';
  const levels =
    q === 'ldmae'
      ? 'uint8 levels floor(clamp(127.5 x + 128, 0, 255))'
      : q === 'adm'
        ? 'uint8 levels floor(clamp(127.5 (x + 1), 0, 255))'
        : 'levels 127.5 (x + 1) (not rounded)';
  if (pipeline === 'adm')
    return `ADM evaluator: ${levels} in [0, 255], TF1 legacy bilinear resize to ${size}x${size} (align_corners false, half_pixel_centers false), (x - 128) / 128`;
  if (pipeline === 'pytorch-fid')
    return `pytorch-fid: ${levels} / 255, half-pixel bilinear resize to ${size}x${size} (align_corners false), 2x - 1`;
  return `nsfwjs: ${levels} / 255, bilinear resize to ${size}x${size} with align_corners true (only when the size differs), no further scaling`;
}
