/**
 * The layers of pytorch-fid's FIDInceptionV3 (torchvision's Inception3 with the FID patches), in tfjs
 * NHWC, with PyTorch state-dict names (`conv.weight`, `bn.weight`, `bn.bias`, `bn.running_mean`,
 * `bn.running_var`, `branch1x1.…`).
 *
 * The FID-specific pooling, as pytorch-fid patches it to match the 2015 TensorFlow graph:
 * - FIDInceptionA / FIDInceptionC / FIDInceptionE_1: the pool branch is a 3x3 stride-1 average pool with
 *   padding 1 and `count_include_pad=False`, i.e. TF's 'SAME' average pool, which divides by the number
 *   of real (unpadded) inputs under the window - exactly what tf.avgPool(…, 'same') does;
 * - FIDInceptionE_2 (Mixed_7c): a 3x3 stride-1 *max* pool with padding 1 (PyTorch pads with -inf, so it
 *   equals tf.maxPool(…, 'same'));
 * - InceptionB / InceptionD (Mixed_6a, Mixed_7a) are torchvision's unchanged: 3x3 stride-2 max pool,
 *   no padding.
 */
import { Module, type Rng } from '@ldmae/core';
import * as tf from '@tensorflow/tfjs-core';

/** BatchNorm2d eps of torchvision's BasicConv2d (TF's default 0.001). */
export const FID_BN_EPS = 0.001;

/** Placeholder weights of a freshly built network. */
export interface InitOptions {
  /**
   * 'zeros' (default; load real weights afterwards), or 'random': He-normal conv and linear weights
   * drawn from `rng`, BatchNorm as the identity (weight 1, bias 0, mean 0, var 1) - for tests.
   */
  init?: 'zeros' | 'random';
  rng?: Rng;
}

function draw(shape: number[], fanIn: number, opts: InitOptions): tf.Tensor {
  if (opts.init === 'random') {
    if (!opts.rng) throw new Error("FidInceptionV3: init 'random' needs opts.rng");
    return opts.rng.normal(shape, 0, Math.sqrt(2 / fanIn));
  }
  return tf.zeros(shape);
}

/** The `conv` of a BasicConv2d: a bias-free kernel, [kh, kw, in, out] inside, [out, in, kh, kw] in the state dict. */
class ConvWeight extends Module {
  readonly weight: tf.Variable;
  constructor(cin: number, cout: number, kh: number, kw: number, opts: InitOptions) {
    super();
    this.weight = this.registerParameter('weight', draw([kh, kw, cin, cout], cin * kh * kw, opts), {
      layout: 'conv2d',
    });
  }
}

/** The `bn` of a BasicConv2d, used in evaluation mode only (running statistics). */
class BatchNormEval extends Module {
  readonly weight: tf.Variable;
  readonly bias: tf.Variable;
  constructor(c: number) {
    super();
    this.weight = this.registerParameter('weight', tf.ones([c]));
    this.bias = this.registerParameter('bias', tf.zeros([c]));
    this.registerBuffer('running_mean', tf.zeros([c]));
    this.registerBuffer('running_var', tf.ones([c]));
  }

  /** Per-channel scale s = weight / sqrt(var + eps) and shift bias - mean * s, [c] each (inside a tidy). */
  affine(): [tf.Tensor1D, tf.Tensor1D] {
    const s = tf.div(this.weight, tf.sqrt(tf.add(this.getTensor('running_var'), FID_BN_EPS))) as tf.Tensor1D;
    const b = tf.sub(this.bias, tf.mul(this.getTensor('running_mean'), s)) as tf.Tensor1D;
    return [s, b];
  }
}

/** Kernel size, stride and zero padding of one BasicConv2d, as in torchvision. */
export interface ConvSpec {
  k: number | [number, number];
  stride?: number;
  pad?: number | [number, number];
}

/**
 * torchvision's BasicConv2d in evaluation mode: conv (no bias) -> BatchNorm2d(eps 0.001) -> ReLU. The
 * BatchNorm is folded into the kernel and bias on every call (a per-channel rescale of the weights,
 * negligible next to the convolution) and the three run as one fused conv.
 */
export class BasicConv2d extends Module {
  readonly conv: ConvWeight;
  readonly bn: BatchNormEval;
  readonly inChannels: number;
  readonly outChannels: number;
  readonly kernel: [number, number];
  readonly stride: number;
  readonly padding: [number, number];

  constructor(cin: number, cout: number, spec: ConvSpec, opts: InitOptions = {}) {
    super();
    const [kh, kw] = typeof spec.k === 'number' ? [spec.k, spec.k] : spec.k;
    const pad = spec.pad ?? 0;
    this.inChannels = cin;
    this.outChannels = cout;
    this.kernel = [kh, kw];
    this.stride = spec.stride ?? 1;
    this.padding = typeof pad === 'number' ? [pad, pad] : pad;
    this.conv = this.registerModule('conv', new ConvWeight(cin, cout, kh, kw, opts));
    this.bn = this.registerModule('bn', new BatchNormEval(cout));
  }

  /** x [n, H, W, in] -> relu(bn(conv(x))) [n, H', W', out]. */
  forward(x: tf.Tensor4D): tf.Tensor4D {
    return tf.tidy(() => {
      const [s, b] = this.bn.affine();
      const [ph, pw] = this.padding;
      const pad: 'valid' | [[number, number], [number, number], [number, number], [number, number]] =
        ph === 0 && pw === 0
          ? 'valid'
          : [
              [0, 0],
              [ph, ph],
              [pw, pw],
              [0, 0],
            ];
      return tf.fused.conv2d({
        x,
        filter: tf.mul(this.conv.weight, s) as tf.Tensor4D,
        strides: this.stride,
        pad,
        bias: b,
        activation: 'relu',
      });
    });
  }
}

/** The 3x3 stride-1 pooling of the pool branches (see the module notes). */
export type PoolBranch = 'avg-exclude-pad' | 'max';

/** 3x3 stride-1 'same' pooling: average over real inputs only, or max. */
export function poolBranch(x: tf.Tensor4D, kind: PoolBranch): tf.Tensor4D {
  return kind === 'max' ? tf.maxPool(x, 3, 1, 'same') : tf.avgPool(x, 3, 1, 'same');
}

/** Base of the Inception blocks: children named as torchvision names them. */
class Block extends Module {
  protected conv(name: string, cin: number, cout: number, spec: ConvSpec, opts: InitOptions): BasicConv2d {
    return this.registerModule(name, new BasicConv2d(cin, cout, spec, opts));
  }
}

/** FIDInceptionA (Mixed_5b/c/d): 64 + 64 + 96 + poolFeatures channels out. */
export class InceptionA extends Block {
  readonly outChannels: number;
  private readonly b1: BasicConv2d;
  private readonly b5: BasicConv2d[];
  private readonly b3: BasicConv2d[];
  private readonly bp: BasicConv2d;
  constructor(cin: number, poolFeatures: number, opts: InitOptions = {}) {
    super();
    this.b1 = this.conv('branch1x1', cin, 64, { k: 1 }, opts);
    this.b5 = [
      this.conv('branch5x5_1', cin, 48, { k: 1 }, opts),
      this.conv('branch5x5_2', 48, 64, { k: 5, pad: 2 }, opts),
    ];
    this.b3 = [
      this.conv('branch3x3dbl_1', cin, 64, { k: 1 }, opts),
      this.conv('branch3x3dbl_2', 64, 96, { k: 3, pad: 1 }, opts),
      this.conv('branch3x3dbl_3', 96, 96, { k: 3, pad: 1 }, opts),
    ];
    this.bp = this.conv('branch_pool', cin, poolFeatures, { k: 1 }, opts);
    this.outChannels = 224 + poolFeatures;
  }

  forward(x: tf.Tensor4D): tf.Tensor4D {
    return tf.tidy(() =>
      tf.concat(
        [
          this.b1.forward(x),
          chain(this.b5, x),
          chain(this.b3, x),
          this.bp.forward(poolBranch(x, 'avg-exclude-pad')),
        ],
        3,
      ),
    );
  }
}

/** InceptionB (Mixed_6a): 384 + 96 + in channels out, half the resolution. */
export class InceptionB extends Block {
  readonly outChannels: number;
  private readonly b3: BasicConv2d;
  private readonly bd: BasicConv2d[];
  constructor(cin: number, opts: InitOptions = {}) {
    super();
    this.b3 = this.conv('branch3x3', cin, 384, { k: 3, stride: 2 }, opts);
    this.bd = [
      this.conv('branch3x3dbl_1', cin, 64, { k: 1 }, opts),
      this.conv('branch3x3dbl_2', 64, 96, { k: 3, pad: 1 }, opts),
      this.conv('branch3x3dbl_3', 96, 96, { k: 3, stride: 2 }, opts),
    ];
    this.outChannels = 480 + cin;
  }

  forward(x: tf.Tensor4D): tf.Tensor4D {
    return tf.tidy(() => tf.concat([this.b3.forward(x), chain(this.bd, x), tf.maxPool(x, 3, 2, 'valid')], 3));
  }
}

/** FIDInceptionC (Mixed_6b/c/d/e): 4 x 192 channels out. */
export class InceptionC extends Block {
  readonly outChannels = 768;
  private readonly b1: BasicConv2d;
  private readonly b7: BasicConv2d[];
  private readonly bd: BasicConv2d[];
  private readonly bp: BasicConv2d;
  constructor(cin: number, c7: number, opts: InitOptions = {}) {
    super();
    const row = { k: [1, 7] as [number, number], pad: [0, 3] as [number, number] };
    const col = { k: [7, 1] as [number, number], pad: [3, 0] as [number, number] };
    this.b1 = this.conv('branch1x1', cin, 192, { k: 1 }, opts);
    this.b7 = [
      this.conv('branch7x7_1', cin, c7, { k: 1 }, opts),
      this.conv('branch7x7_2', c7, c7, row, opts),
      this.conv('branch7x7_3', c7, 192, col, opts),
    ];
    this.bd = [
      this.conv('branch7x7dbl_1', cin, c7, { k: 1 }, opts),
      this.conv('branch7x7dbl_2', c7, c7, col, opts),
      this.conv('branch7x7dbl_3', c7, c7, row, opts),
      this.conv('branch7x7dbl_4', c7, c7, col, opts),
      this.conv('branch7x7dbl_5', c7, 192, row, opts),
    ];
    this.bp = this.conv('branch_pool', cin, 192, { k: 1 }, opts);
  }

  /** The block's output and its branch1x1 output (Mixed_6d's is the sFID tap, TF's `mixed_6/conv`). */
  forwardWithBranch1x1(x: tf.Tensor4D): [tf.Tensor4D, tf.Tensor4D] {
    return tf.tidy(() => {
      const b1 = this.b1.forward(x);
      const out = tf.concat(
        [b1, chain(this.b7, x), chain(this.bd, x), this.bp.forward(poolBranch(x, 'avg-exclude-pad'))],
        3,
      ) as tf.Tensor4D;
      return [out, b1];
    });
  }

  forward(x: tf.Tensor4D): tf.Tensor4D {
    const [out, b1] = this.forwardWithBranch1x1(x);
    b1.dispose();
    return out;
  }
}

/** InceptionD (Mixed_7a): 320 + 192 + in channels out, half the resolution. */
export class InceptionD extends Block {
  readonly outChannels: number;
  private readonly b3: BasicConv2d[];
  private readonly b7: BasicConv2d[];
  constructor(cin: number, opts: InitOptions = {}) {
    super();
    this.b3 = [
      this.conv('branch3x3_1', cin, 192, { k: 1 }, opts),
      this.conv('branch3x3_2', 192, 320, { k: 3, stride: 2 }, opts),
    ];
    this.b7 = [
      this.conv('branch7x7x3_1', cin, 192, { k: 1 }, opts),
      this.conv('branch7x7x3_2', 192, 192, { k: [1, 7], pad: [0, 3] }, opts),
      this.conv('branch7x7x3_3', 192, 192, { k: [7, 1], pad: [3, 0] }, opts),
      this.conv('branch7x7x3_4', 192, 192, { k: 3, stride: 2 }, opts),
    ];
    this.outChannels = 512 + cin;
  }

  forward(x: tf.Tensor4D): tf.Tensor4D {
    return tf.tidy(() => tf.concat([chain(this.b3, x), chain(this.b7, x), tf.maxPool(x, 3, 2, 'valid')], 3));
  }
}

/**
 * FIDInceptionE_1 (Mixed_7b, pool 'avg-exclude-pad') and FIDInceptionE_2 (Mixed_7c, pool 'max'):
 * 320 + 768 + 768 + 192 = 2048 channels out.
 */
export class InceptionE extends Block {
  readonly outChannels = 2048;
  readonly pool: PoolBranch;
  private readonly b1: BasicConv2d;
  private readonly b3: BasicConv2d;
  private readonly b3a: BasicConv2d;
  private readonly b3b: BasicConv2d;
  private readonly bd: BasicConv2d[];
  private readonly bda: BasicConv2d;
  private readonly bdb: BasicConv2d;
  private readonly bp: BasicConv2d;
  constructor(cin: number, pool: PoolBranch, opts: InitOptions = {}) {
    super();
    this.pool = pool;
    const row = { k: [1, 3] as [number, number], pad: [0, 1] as [number, number] };
    const col = { k: [3, 1] as [number, number], pad: [1, 0] as [number, number] };
    this.b1 = this.conv('branch1x1', cin, 320, { k: 1 }, opts);
    this.b3 = this.conv('branch3x3_1', cin, 384, { k: 1 }, opts);
    this.b3a = this.conv('branch3x3_2a', 384, 384, row, opts);
    this.b3b = this.conv('branch3x3_2b', 384, 384, col, opts);
    this.bd = [
      this.conv('branch3x3dbl_1', cin, 448, { k: 1 }, opts),
      this.conv('branch3x3dbl_2', 448, 384, { k: 3, pad: 1 }, opts),
    ];
    this.bda = this.conv('branch3x3dbl_3a', 384, 384, row, opts);
    this.bdb = this.conv('branch3x3dbl_3b', 384, 384, col, opts);
    this.bp = this.conv('branch_pool', cin, 192, { k: 1 }, opts);
  }

  forward(x: tf.Tensor4D): tf.Tensor4D {
    return tf.tidy(() => {
      const t3 = this.b3.forward(x);
      const td = chain(this.bd, x);
      return tf.concat(
        [
          this.b1.forward(x),
          this.b3a.forward(t3),
          this.b3b.forward(t3),
          this.bda.forward(td),
          this.bdb.forward(td),
          this.bp.forward(poolBranch(x, this.pool)),
        ],
        3,
      );
    });
  }
}

function chain(convs: BasicConv2d[], x: tf.Tensor4D): tf.Tensor4D {
  let y = x;
  for (const c of convs) y = c.forward(y);
  return y;
}
