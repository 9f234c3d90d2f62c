/**
 * pytorch-fid's FIDInceptionV3: torchvision's Inception3 with 1008 classes, no auxiliary classifier, and
 * the FID blocks (Mixed_5b-d FIDInceptionA, Mixed_6b-e FIDInceptionC, Mixed_7b FIDInceptionE_1, Mixed_7c
 * FIDInceptionE_2), holding the 2015-12-05 TensorFlow Inception weights as pytorch-fid ported them
 * (`pt_inception-2015-12-05-6726825d.pth`). Its state dict uses that file's names and PyTorch layouts.
 */
import { type LoadResult, Module } from '@ldmae/core';
import * as tf from '@tensorflow/tfjs-core';
import {
  BasicConv2d,
  InceptionA,
  InceptionB,
  InceptionC,
  InceptionD,
  InceptionE,
  type InitOptions,
} from './fid-inception-blocks.js';

/** Classes of the 2015 Inception's softmax layer (1000 ImageNet classes plus 8 unused). */
export const FID_INCEPTION_CLASSES = 1008;
/** Channels of pool3. */
export const FID_POOL_DIM = 2048;
/** Channels of the sFID tap that are kept (the ADM evaluator's `spatial[..., :7]`). */
export const FID_SPATIAL_CHANNELS = 7;

/** The 1008-class head: `fc.weight` [1008, 2048] and `fc.bias` [1008] in the state dict. */
class Linear2048 extends Module {
  readonly weight: tf.Variable;
  readonly bias: tf.Variable;
  constructor(opts: InitOptions) {
    super();
    const w =
      opts.init === 'random' && opts.rng
        ? opts.rng.normal([FID_POOL_DIM, FID_INCEPTION_CLASSES], 0, Math.sqrt(1 / FID_POOL_DIM))
        : tf.zeros([FID_POOL_DIM, FID_INCEPTION_CLASSES]);
    this.weight = this.registerParameter('weight', w, { layout: 'linear' });
    this.bias = this.registerParameter('bias', tf.zeros([FID_INCEPTION_CLASSES]));
  }
}

/** Which outputs {@link FidInceptionV3.forward} computes. */
export interface FidInceptionOutputs {
  /** [n, 2048] pool3 (global average of Mixed_7c). */
  pool: tf.Tensor2D;
  /** [n, h, w, 192] Mixed_6d.branch1x1 after its BatchNorm and ReLU (TF's `mixed_6/conv`; 17 x 17 at 299). */
  spatial?: tf.Tensor4D;
  /** [n, 1008] pool3 times fc.weight^T, plus fc.bias only when asked for. */
  logits?: tf.Tensor2D;
}

/**
 * The FID Inception network. Built with placeholder weights; load the 2015 weights with
 * `loadStateDict` (strict by default; `*.num_batches_tracked` entries of a PyTorch BatchNorm are
 * accepted and ignored), or use `loadFidInceptionExtractor` in Node.
 */
export class FidInceptionV3 extends Module {
  private readonly stem: BasicConv2d[];
  private readonly stem2: BasicConv2d[];
  private readonly mixed5: InceptionA[];
  private readonly mixed6a: InceptionB;
  private readonly mixed6bc: InceptionC[];
  private readonly mixed6d: InceptionC;
  private readonly mixed6e: InceptionC;
  private readonly mixed7: [InceptionD, InceptionE, InceptionE];
  private readonly fc: Linear2048;
  private loaded = false;

  constructor(opts: InitOptions = {}) {
    super();
    const c = (name: string, m: BasicConv2d) => this.registerModule(name, m);
    this.stem = [
      c('Conv2d_1a_3x3', new BasicConv2d(3, 32, { k: 3, stride: 2 }, opts)),
      c('Conv2d_2a_3x3', new BasicConv2d(32, 32, { k: 3 }, opts)),
      c('Conv2d_2b_3x3', new BasicConv2d(32, 64, { k: 3, pad: 1 }, opts)),
    ];
    this.stem2 = [
      c('Conv2d_3b_1x1', new BasicConv2d(64, 80, { k: 1 }, opts)),
      c('Conv2d_4a_3x3', new BasicConv2d(80, 192, { k: 3 }, opts)),
    ];
    this.mixed5 = [
      this.registerModule('Mixed_5b', new InceptionA(192, 32, opts)),
      this.registerModule('Mixed_5c', new InceptionA(256, 64, opts)),
      this.registerModule('Mixed_5d', new InceptionA(288, 64, opts)),
    ];
    this.mixed6a = this.registerModule('Mixed_6a', new InceptionB(288, opts));
    this.mixed6bc = [
      this.registerModule('Mixed_6b', new InceptionC(768, 128, opts)),
      this.registerModule('Mixed_6c', new InceptionC(768, 160, opts)),
    ];
    this.mixed6d = this.registerModule('Mixed_6d', new InceptionC(768, 160, opts));
    this.mixed6e = this.registerModule('Mixed_6e', new InceptionC(768, 192, opts));
    this.mixed7 = [
      this.registerModule('Mixed_7a', new InceptionD(768, opts)),
      this.registerModule('Mixed_7b', new InceptionE(1280, 'avg-exclude-pad', opts)),
      this.registerModule('Mixed_7c', new InceptionE(2048, 'max', opts)),
    ];
    this.fc = this.registerModule('fc', new Linear2048(opts));
    this.eval();
  }

  /** True once a state dict was loaded strictly (every weight came from the caller). */
  get weightsLoaded(): boolean {
    return this.loaded;
  }

  /**
   * Loads PyTorch-named weights (see {@link Module.loadStateDict}); `*.num_batches_tracked` keys are
   * dropped first, since BatchNorm's batch counter plays no part in evaluation.
   */
  override loadStateDict(dict: Record<string, tf.Tensor>, opts: { strict?: boolean } = {}): LoadResult {
    if (dict === null || typeof dict !== 'object')
      throw new TypeError('FidInceptionV3.loadStateDict: dict must be a record of tf.Tensor');
    const kept: Record<string, tf.Tensor> = {};
    for (const k of Object.keys(dict)) if (!k.endsWith('.num_batches_tracked')) kept[k] = dict[k];
    const r = super.loadStateDict(kept, opts);
    if ((opts.strict ?? true) || (r.missing.length === 0 && r.unexpected.length === 0)) this.loaded = true;
    return r;
  }

  /**
   * Runs the network on images already through an input pipeline.
   *
   * @param x - [n, H, W, 3], H, W >= 75 (299 x 299 for the reference features), roughly in [-1, 1].
   * @param want - the optional outputs to compute; pool3 always comes back.
   * @returns tensors the caller owns.
   */
  forward(
    x: tf.Tensor4D,
    want: { spatial?: boolean; logits?: boolean; logitsBias?: boolean } = {},
  ): FidInceptionOutputs {
    if (!(x instanceof tf.Tensor) || x.rank !== 4 || x.shape[3] !== 3)
      throw new Error(
        `FidInceptionV3.forward: x must be [n, H, W, 3] (NHWC), got ${x instanceof tf.Tensor ? `[${x.shape}]` : typeof x}`,
      );
    if (x.shape[1] < 75 || x.shape[2] < 75)
      throw new Error(
        `FidInceptionV3.forward: x is ${x.shape[1]}x${x.shape[2]}; every side must be at least 75 px`,
      );
    return tf.tidy(() => {
      let y = x;
      for (const m of this.stem) y = m.forward(y);
      y = tf.maxPool(y, 3, 2, 'valid');
      for (const m of this.stem2) y = m.forward(y);
      y = tf.maxPool(y, 3, 2, 'valid');
      for (const m of this.mixed5) y = m.forward(y);
      y = this.mixed6a.forward(y);
      for (const m of this.mixed6bc) y = m.forward(y);
      const [y6d, tap] = this.mixed6d.forwardWithBranch1x1(y);
      y = this.mixed6e.forward(y6d);
      for (const m of this.mixed7) y = m.forward(y);
      const pool = tf.mean(y, [1, 2]) as tf.Tensor2D;
      const out: FidInceptionOutputs = { pool };
      if (want.spatial) out.spatial = tap;
      if (want.logits) {
        const z = tf.matMul(pool, this.fc.weight as tf.Tensor2D);
        out.logits = (want.logitsBias ? tf.add(z, this.fc.bias) : z) as tf.Tensor2D;
      }
      return out as unknown as tf.TensorContainer;
    }) as unknown as FidInceptionOutputs;
  }
}
