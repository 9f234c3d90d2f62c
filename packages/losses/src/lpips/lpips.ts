/**
 * LPIPS v0.1 (Zhang et al. 2018, richzhang/PerceptualSimilarity): the learned perceptual distance
 * between two images, on any {@link LpipsTrunk}.
 */
import { type LoadResult, Module } from '@ldmae/core';
import * as tf from '@tensorflow/tfjs-core';
import { FrozenConv2d, NamedModules } from './frozen-conv.js';
import type { LpipsTrunk } from './trunk.js';

/** LPIPS v0.1's scaling layer: (x - shift) / scale per RGB channel, on [-1, 1] inputs. */
export const LPIPS_SHIFT: readonly number[] = [-0.03, -0.088, -0.188];
/** See {@link LPIPS_SHIFT}. */
export const LPIPS_SCALE: readonly number[] = [0.458, 0.448, 0.45];
/** Added to each feature vector's norm before dividing by it, as `normalize_tensor`. */
export const LPIPS_NORM_EPS = 1e-10;

/**
 * Where the per-channel "lin" weights of the head come from:
 * - 'learned-v0.1': the released LPIPS v0.1 weights (`lin{K}.model.1.weight`, BSD-2), trained for
 *   the torchvision VGG16 / AlexNet / SqueezeNet taps;
 * - 'uniform': weight 1 on every channel, i.e. richzhang's `lpips=False` baseline (the channel sum
 *   of the squared difference of unit-normalised features);
 * - 'custom': any other weights a user loaded.
 */
export type LinWeightsKind = 'learned-v0.1' | 'uniform' | 'custom';

/**
 * Side that {@link Lpips} upsamples too-small images to by default (with `resize: 'auto'`): 64 px,
 * where the offline InceptionV3 trunk's deepest tap (mixed5, ~H/16) is still 2 x 2.
 */
export const LPIPS_UPSAMPLE_TO = 64;

/** How {@link Lpips} treats images smaller than its trunk takes. */
export interface LpipsResizeOptions {
  /**
   * 'auto' (default): images the trunk cannot take (a side below its minimum, e.g. 43 px for the
   * offline InceptionV3 trunk, so 28 px MNIST digits) are bilinearly upsampled before the trunk
   * (`tf.image.resizeBilinear`, corners not aligned, no half-pixel centres), every side below the
   * minimum to `upsampleTo`; sides the trunk takes, and images it takes, are left as they are.
   * 'none': such images are refused with the trunk's error, which names the smallest size.
   */
  resize?: 'auto' | 'none';
  /**
   * Side a too-small side is upsampled to with `resize: 'auto'`; the trunk's minimum if that is larger.
   * Default {@link LPIPS_UPSAMPLE_TO} (64).
   */
  upsampleTo?: number;
}

/** Options of {@link Lpips}. */
export interface LpipsOptions extends LpipsResizeOptions {
  /**
   * 'uniform', or a state dict holding `lin{K}.model.1.weight` [1, C_K, 1, 1] for every tap K (e.g.
   * read from the lpips `vgg.pth`; other keys are ignored). Required: there is no silent default.
   */
  lin: 'uniform' | Record<string, tf.Tensor>;
  /** What a dict given as `lin` is. Default 'learned-v0.1'. */
  linKind?: 'learned-v0.1' | 'custom';
}

/** One LPIPS evaluation. The caller owns the tensors. */
export interface LpipsResult {
  /** Distance per sample, [B]. */
  distance: tf.Tensor1D;
  /** Each tap's contribution, [B] each (they sum to `distance`); only when asked for. */
  perTap?: tf.Tensor1D[];
  trunkName: string;
  linWeights: LinWeightsKind;
  /** [H, W] the trunk saw: the images' own size, or the size they were upsampled to. */
  trunkInputSize: [number, number];
}

/** Largest side searched for a trunk's minimum input size. */
const MAX_MIN_SIDE = 4096;

// x / (sqrt(sum_c x^2) + eps) over the last axis. The hand-written gradient stays finite where a
// feature vector is all zeros (a dead ReLU column), where autodiff through sqrt gives 0 * inf = NaN.
const normalizeChannels = tf.customGrad(((x: tf.Tensor, save: tf.GradSaveFunc) => {
  const n = tf.sqrt(tf.sum(tf.square(x), -1, true));
  const inv = tf.reciprocal(tf.add(n, LPIPS_NORM_EPS));
  const y = tf.mul(x, inv);
  save([y, n, inv]);
  return {
    value: y,
    gradFunc: (dy: tf.Tensor, [sy, sn, sinv]: tf.Tensor[]) => {
      // d/dx [x / (n + eps)] . dy = (dy - y * <dy, x> / n) / (n + eps), and y * <dy, x> / n
      // = y * <dy, y> * (n + eps) / n, which is 0 at n = 0.
      const ratio = tf.div(tf.add(sn, LPIPS_NORM_EPS), tf.maximum(sn, 1e-30));
      const dot = tf.mul(
        tf.sum(tf.mul(dy, sy), -1, true),
        tf.where(tf.greater(sn, 0), ratio, tf.zerosLike(sn)),
      );
      return [tf.mul(tf.sub(dy, tf.mul(sy, dot)), sinv)];
    },
  };
  // tf.customGrad's declared type mixes the inputs with the save function.
}) as unknown as Parameters<typeof tf.customGrad>[0]) as (x: tf.Tensor) => tf.Tensor;

const linKey = (k: number): string => `lin${k}.model.1.weight`;

// The lin{K}.model.1.weight entries of `dict` for every tap of `trunk`, checked; other keys ignored.
function pickLinWeights(
  trunk: LpipsTrunk,
  dict: Record<string, tf.Tensor>,
  who: string,
): Record<string, tf.Tensor> {
  const n = trunk.tapChannels.length;
  const extra = Object.keys(dict).filter((k) => {
    const m = /^lin(\d+)\.model\.1\.weight$/.exec(k);
    return m && Number(m[1]) >= n;
  });
  if (extra.length) {
    throw new Error(
      `${who}: the dict has ${extra.join(', ')}, but trunk '${trunk.name}' has ${n} taps (weights for another trunk?)`,
    );
  }
  const picked: Record<string, tf.Tensor> = {};
  trunk.tapChannels.forEach((c, k) => {
    const t = dict[linKey(k)];
    if (!(t instanceof tf.Tensor)) throw new Error(`${who}: missing '${linKey(k)}' (shape [1, ${c}, 1, 1])`);
    if (!tf.util.arraysEqual(t.shape, [1, c, 1, 1])) {
      throw new Error(
        `${who}: '${linKey(k)}' has shape [${t.shape}], trunk '${trunk.name}' tap ${k} needs [1, ${c}, 1, 1]`,
      );
    }
    picked[linKey(k)] = t;
  });
  return picked;
}

/**
 * The LPIPS head on a trunk: scaling layer (when the trunk asks for it), the trunk's taps, each
 * normalised over channels by sqrt(sum f^2) + 1e-10, squared difference, a 1x1 conv without bias
 * (the "lin" weights), spatial mean, sum over taps. Its `stateDict()` holds exactly the
 * `lin{K}.model.1.weight` entries of the lpips `.pth` files, so `loadLinWeights` takes them directly.
 *
 * Images smaller than the trunk takes (28 px digits on the 43 px-minimum InceptionV3 trunk) are
 * bilinearly upsampled to {@link LPIPS_UPSAMPLE_TO} px by default; `resize: 'none'` refuses them.
 *
 * The head owns its trunk: `dispose()` releases both.
 */
export class Lpips extends Module {
  readonly trunk: LpipsTrunk;
  /** What happens to images smaller than the trunk takes ({@link LpipsResizeOptions.resize}). */
  readonly resize: 'auto' | 'none';
  /** Side too-small sides are upsampled to ({@link LpipsResizeOptions.upsampleTo}). */
  readonly upsampleTo: number;
  private linKind: LinWeightsKind;
  private readonly lins: FrozenConv2d[] = [];
  private minSide: number | null | undefined;

  /**
   * @param trunk the feature network; the head owns it from here on.
   * @param opts the lin weights (required), and how images smaller than the trunk takes are treated
   * (default: upsampled, `resize: 'auto'`).
   * @throws before creating any tensor, for a bad trunk, lin weights or resize option.
   */
  constructor(trunk: LpipsTrunk, opts: LpipsOptions) {
    super();
    if (!trunk || typeof trunk.forward !== 'function' || !Array.isArray(trunk.tapChannels)) {
      throw new TypeError('Lpips: trunk must be an LpipsTrunk ({ name, tapChannels, forward, ... })');
    }
    if (!opts || (opts.lin !== 'uniform' && (typeof opts.lin !== 'object' || opts.lin === null))) {
      throw new Error("Lpips: opts.lin must be 'uniform' or a state dict with lin{K}.model.1.weight entries");
    }
    const resize = opts.resize ?? 'auto';
    if (resize !== 'auto' && resize !== 'none')
      throw new RangeError(`Lpips: opts.resize must be 'auto' or 'none', got ${JSON.stringify(opts.resize)}`);
    const upsampleTo = opts.upsampleTo ?? LPIPS_UPSAMPLE_TO;
    if (!Number.isInteger(upsampleTo) || upsampleTo < 1)
      throw new RangeError(`Lpips: opts.upsampleTo must be a positive integer, got ${opts.upsampleTo}`);
    this.resize = resize;
    this.upsampleTo = upsampleTo;
    this.trunk = trunk;
    // Check the lin weights before creating anything, so a bad dict leaves no tensor behind.
    const picked = opts.lin === 'uniform' ? null : pickLinWeights(trunk, opts.lin, 'Lpips');
    trunk.tapChannels.forEach((c, k) => {
      // Module names: lin{K} -> model -> '1' (index 0 of torch's Sequential is a weightless Dropout).
      const lin = new NamedModules();
      const model = lin.add('model', new NamedModules());
      this.lins.push(model.add('1', new FrozenConv2d(c, 1, 1, { bias: false, init: 'zeros' })));
      this.registerModule(`lin${k}`, lin);
    });
    this.linKind = 'uniform';
    if (picked) {
      super.loadStateDict(picked);
      this.linKind = opts.linKind ?? 'learned-v0.1';
    } else this.setUniform();
  }

  /** The trunk's name. */
  get trunkName(): string {
    return this.trunk.name;
  }

  /** Where the current lin weights come from. */
  get linWeights(): LinWeightsKind {
    return this.linKind;
  }

  /** Set every lin weight to 1 (richzhang's `lpips=False` baseline). */
  setUniform(): void {
    for (const lin of this.lins) tf.tidy(() => lin.weight.assign(tf.onesLike(lin.weight)));
    this.linKind = 'uniform';
  }

  /**
   * Load lin weights from a state dict: `lin{K}.model.1.weight` [1, C_K, 1, 1] must be present for
   * every tap K with the trunk's channels, and no `lin{K}` beyond the trunk's taps may be (weights for
   * a different trunk); other keys are ignored. Nothing is assigned unless all match.
   */
  loadLinWeights(dict: Record<string, tf.Tensor>, kind: 'learned-v0.1' | 'custom' = 'learned-v0.1'): void {
    super.loadStateDict(pickLinWeights(this.trunk, dict, 'Lpips.loadLinWeights'));
    this.linKind = kind;
  }

  /** Module.loadStateDict; the lin weights are then labelled 'custom'. Prefer {@link loadLinWeights}. */
  override loadStateDict(dict: Record<string, tf.Tensor>, opts: { strict?: boolean } = {}): LoadResult {
    const r = super.loadStateDict(dict, opts);
    this.linKind = 'custom';
    return r;
  }

  // The smallest square side the trunk takes (cached), or null when none up to MAX_MIN_SIDE does.
  private trunkMinSide(): number | null {
    if (this.minSide === undefined) {
      this.minSide = null;
      for (let m = 1; m <= MAX_MIN_SIDE; m++) {
        try {
          this.trunk.checkInputSize(m, m);
          this.minSide = m;
          break;
        } catch {
          // too small: try the next size
        }
      }
    }
    return this.minSide;
  }

  /**
   * The [H, W] the trunk sees for H x W images: their own size when the trunk takes it; with
   * `resize: 'auto'`, every side below the trunk's minimum becomes max(`upsampleTo`, minimum).
   * @throws the trunk's error (naming the smallest size) when the images are too small and `resize`
   * is 'none', or when no upsampling makes the trunk take them.
   */
  trunkInputSize(h: number, w: number): [number, number] {
    try {
      this.trunk.checkInputSize(h, w);
      return [h, w];
    } catch (e) {
      const m = this.resize === 'none' ? null : this.trunkMinSide();
      if (m === null) throw e;
      const side = Math.max(this.upsampleTo, m);
      const size: [number, number] = [h < m ? side : h, w < m ? side : w];
      this.trunk.checkInputSize(size[0], size[1]);
      return size;
    }
  }

  // Checks the images; returns the size to upsample them to, or null to use them as they are.
  private check(x: tf.Tensor, y: tf.Tensor): [number, number] | null {
    if (
      !(x instanceof tf.Tensor) ||
      x.rank !== 4 ||
      x.shape[3] !== 3 ||
      !((x.shape[1] ?? 0) >= 1 && (x.shape[2] ?? 0) >= 1)
    )
      throw new Error(
        `Lpips: x must be [B, H, W, 3] in [-1, 1] with H, W >= 1, got ${x instanceof tf.Tensor ? `[${x.shape}]` : String(x)}`,
      );
    if (!(y instanceof tf.Tensor) || !tf.util.arraysEqual(x.shape, y.shape)) {
      throw new Error(
        `Lpips: y must have x's shape [${x.shape}], got ${y instanceof tf.Tensor ? `[${y.shape}]` : String(y)}`,
      );
    }
    const h = x.shape[1] as number;
    const w = x.shape[2] as number;
    const size = this.trunkInputSize(h, w);
    return size[0] === h && size[1] === w ? null : size;
  }

  private features(x: tf.Tensor4D): tf.Tensor4D[] {
    const input =
      this.trunk.inputScaling === 'lpips'
        ? (tf.div(
            tf.sub(x, tf.tensor1d(LPIPS_SHIFT as number[])),
            tf.tensor1d(LPIPS_SCALE as number[]),
          ) as tf.Tensor4D)
        : x;
    const taps = this.trunk.forward(input);
    if (taps.length !== this.lins.length) {
      throw new Error(
        `Lpips: trunk '${this.trunkName}' returned ${taps.length} taps, declared ${this.lins.length}`,
      );
    }
    return taps.map((t, k) => {
      if (t.rank !== 4 || t.shape[3] !== this.trunk.tapChannels[k]) {
        throw new Error(
          `Lpips: tap ${k} of '${this.trunkName}' is [${t.shape}], expected [B, h, w, ${this.trunk.tapChannels[k]}]`,
        );
      }
      return normalizeChannels(t) as tf.Tensor4D;
    });
  }

  // Per-tap distances of x and y brought to `size` (when not null), inside the caller's tidy.
  private perTapDistances(x: tf.Tensor4D, y: tf.Tensor4D, size: [number, number] | null): tf.Tensor1D[] {
    // Two passes rather than one on the concatenated batch: the backward pass then runs only for x.
    const [fx, fy] = [x, y].map((t) => this.features(size ? tf.image.resizeBilinear(t, size) : t));
    return fx.map(
      (a, k) =>
        tf.mean(this.lins[k].forward(tf.square(tf.sub(a, fy[k])) as tf.Tensor4D), [1, 2, 3]) as tf.Tensor1D,
    );
  }

  /**
   * LPIPS distance per sample, differentiable with respect to both images. Images smaller than the
   * trunk takes are upsampled first (see {@link LpipsResizeOptions.resize}; the gradient flows
   * through the upsampling).
   * @param x images [B, H, W, 3] in [-1, 1].
   * @param y images of x's shape.
   * @throws naming `x` or `y` and the expected shape, or the trunk's minimum size with `resize: 'none'`.
   * @returns [B]; the caller owns it.
   */
  forward(x: tf.Tensor4D, y: tf.Tensor4D): tf.Tensor1D {
    const size = this.check(x, y);
    return tf.tidy(() => tf.addN(this.perTapDistances(x, y, size)) as tf.Tensor1D);
  }

  /**
   * LPIPS with its labels: distance [B], optionally each tap's part, the trunk's name and the kind of
   * lin weights.
   */
  compute(x: tf.Tensor4D, y: tf.Tensor4D, opts: { perTap?: boolean } = {}): LpipsResult {
    const size = this.check(x, y);
    const { distance, perTap } = tf.tidy(() => {
      const parts = this.perTapDistances(x, y, size);
      return { distance: tf.addN(parts) as tf.Tensor1D, perTap: opts.perTap ? parts : undefined };
    });
    return {
      distance,
      perTap,
      trunkName: this.trunkName,
      linWeights: this.linKind,
      trunkInputSize: size ?? [x.shape[1], x.shape[2]],
    };
  }

  /** Release the lin weights and the trunk. */
  override dispose(): void {
    super.dispose();
    this.trunk.dispose();
  }
}
