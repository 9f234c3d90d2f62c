/**
 * The torchvision feature stacks LPIPS v0.1 was calibrated on (VGG16 and AlexNet `features`), with
 * torchvision's state-dict names (`features.{i}.weight` / `.bias`, [out, in, kh, kw]) so a user's
 * torchvision checkpoint loads directly. The ImageNet weights cannot be had offline: until
 * `loadTorchvisionStateDict` runs, the trunk holds PyTorch-default random weights and says so in its
 * name.
 */
import { type LoadResult, Module, type Rng } from '@ldmae/core';
import * as tf from '@tensorflow/tfjs-core';
import { FrozenConv2d, NamedModules } from './frozen-conv.js';
import type { LpipsTrunk } from './trunk.js';

/** One layer of a torchvision `features` Sequential, at its Sequential index. */
export type TorchvisionLayer =
  | { index: number; kind: 'conv'; in: number; out: number; kernel: number; stride: number; padding: number }
  | { index: number; kind: 'relu' }
  | { index: number; kind: 'maxpool'; kernel: number; stride: number };

/** Options of {@link vgg16Trunk} and {@link alexnetTrunk}. */
export interface TorchvisionTrunkOptions {
  /** Random source of the placeholder weights (PyTorch's default init); default a fixed seed. */
  rng?: Rng;
}

/**
 * A torchvision `features` stack read at given taps. `stateDict()` gives exactly torchvision's
 * `features.*` entries (up to the last tap).
 */
export class TorchvisionTrunk extends Module implements LpipsTrunk {
  readonly tapChannels: readonly number[];
  readonly tapNames: readonly string[];
  readonly inputScaling = 'lpips' as const;
  /** Whether real weights were loaded (false: PyTorch-default random weights). */
  loaded = false;
  private readonly baseName: string;
  private readonly layers: readonly TorchvisionLayer[];
  private readonly tapAfter: readonly number[];
  private readonly convs = new Map<number, FrozenConv2d>();

  /**
   * @param baseName e.g. 'torchvision-vgg16'.
   * @param layers the Sequential's layers up to the last tap, in order.
   * @param tapAfter the Sequential indices after which a tap is read (ascending).
   */
  constructor(
    baseName: string,
    layers: TorchvisionLayer[],
    tapAfter: number[],
    opts: TorchvisionTrunkOptions = {},
  ) {
    super();
    this.baseName = baseName;
    this.layers = layers;
    this.tapAfter = tapAfter;
    const features = this.registerModule('features', new NamedModules());
    const channels: number[] = [];
    let c = 3;
    for (const l of layers) {
      if (l.kind === 'conv') {
        if (l.in !== c)
          throw new Error(`TorchvisionTrunk: layer ${l.index} expects ${l.in} channels, gets ${c}`);
        const conv = new FrozenConv2d(l.in, l.out, l.kernel, {
          stride: l.stride,
          padding: l.padding,
          rng: opts.rng,
        });
        this.convs.set(l.index, features.add(String(l.index), conv));
        c = l.out;
      }
      if (tapAfter.includes(l.index)) channels.push(c);
    }
    if (channels.length !== tapAfter.length) throw new Error('TorchvisionTrunk: a tap index names no layer');
    this.tapChannels = channels;
    this.tapNames = tapAfter.map((i) => `features.${i}`);
  }

  /** The trunk's name; '(random init)' is appended until real weights are loaded. */
  get name(): string {
    return this.loaded ? this.baseName : `${this.baseName} (random init)`;
  }

  /**
   * Load a torchvision state dict (e.g. `torch.save(torchvision.models.vgg16(weights=...).state_dict())`
   * read with core's `parseTensorFile`): the `features.*` entries up to the last tap must all be there
   * with torchvision's shapes; every other key (`classifier.*`, deeper features) is ignored. Nothing is
   * assigned unless everything matches. The dict's tensors stay the caller's.
   * @returns the keys that were ignored.
   */
  loadTorchvisionStateDict(dict: Record<string, tf.Tensor>): string[] {
    const own = this.stateDictShapes();
    const picked: Record<string, tf.Tensor> = {};
    const ignored: string[] = [];
    for (const [k, t] of Object.entries(dict)) {
      if (k in own) picked[k] = t;
      else ignored.push(k);
    }
    this.loadStateDict(picked);
    return ignored;
  }

  /** Module.loadStateDict; a strict load marks the trunk as holding real weights. */
  override loadStateDict(dict: Record<string, tf.Tensor>, opts: { strict?: boolean } = {}): LoadResult {
    const r = super.loadStateDict(dict, opts);
    if (r.missing.length === 0) this.loaded = true;
    return r;
  }

  /** Spatial size [h, w] of every tap for an H x W input. */
  tapSizes(h: number, w: number): [number, number][] {
    const out: [number, number][] = [];
    let [ch, cw] = [h, w];
    for (const l of this.layers) {
      if (l.kind === 'conv') [ch, cw] = this.convs.get(l.index)!.outputSize(ch, cw);
      else if (l.kind === 'maxpool') {
        ch = Math.floor((ch - l.kernel) / l.stride) + 1;
        cw = Math.floor((cw - l.kernel) / l.stride) + 1;
      }
      if (ch < 1 || cw < 1) return out;
      if (this.tapAfter.includes(l.index)) out.push([ch, cw]);
    }
    return out;
  }

  checkInputSize(h: number, w: number): void {
    if (this.tapSizes(h, w).length === this.tapAfter.length) return;
    let m = 1;
    while (this.tapSizes(m, m).length < this.tapAfter.length) m++;
    throw new Error(`${this.baseName}: input ${h}x${w} is too small; every side must be at least ${m} px`);
  }

  forward(x: tf.Tensor4D): tf.Tensor4D[] {
    if (x.rank !== 4 || x.shape[3] !== 3) {
      throw new Error(`${this.baseName}.forward: x must be [B, H, W, 3] (NHWC), got [${x.shape}]`);
    }
    this.checkInputSize(x.shape[1], x.shape[2]);
    return tf.tidy(() => {
      const taps: tf.Tensor4D[] = [];
      let h: tf.Tensor4D = x;
      for (const l of this.layers) {
        if (l.kind === 'conv') h = this.convs.get(l.index)!.forward(h);
        else if (l.kind === 'relu') h = tf.relu(h);
        else h = tf.maxPool(h, l.kernel, l.stride, 'valid');
        if (this.tapAfter.includes(l.index)) taps.push(h);
      }
      return taps;
    });
  }
}

const conv = (
  index: number,
  cin: number,
  out: number,
  kernel = 3,
  stride = 1,
  padding = 1,
): TorchvisionLayer => ({
  index,
  kind: 'conv',
  in: cin,
  out,
  kernel,
  stride,
  padding,
});

/**
 * torchvision's `vgg16().features` (configuration "D": 3x3 convs with padding 1, ReLU, 2x2 max-pools)
 * read at LPIPS's five taps relu1_2, relu2_2, relu3_3, relu4_3, relu5_3 (after Sequential indices 3, 8,
 * 15, 22, 29; channels 64, 128, 256, 512, 512; at H, H/2, H/4, H/8, H/16). Conv layers sit at indices
 * 0, 2, 5, 7, 10, 12, 14, 17, 19, 21, 24, 26, 28. Needs inputs of at least 16 x 16.
 *
 * The weights are random (PyTorch's default init) until `loadTorchvisionStateDict` loads a user's
 * torchvision VGG16 checkpoint; the name says '(random init)' until then.
 */
export function vgg16Trunk(opts: TorchvisionTrunkOptions = {}): TorchvisionTrunk {
  const cfg: (number | 'M')[] = [
    64,
    64,
    'M',
    128,
    128,
    'M',
    256,
    256,
    256,
    'M',
    512,
    512,
    512,
    'M',
    512,
    512,
    512,
  ];
  const layers: TorchvisionLayer[] = [];
  let c = 3;
  for (const v of cfg) {
    const i = layers.length;
    if (v === 'M') layers.push({ index: i, kind: 'maxpool', kernel: 2, stride: 2 });
    else {
      layers.push(conv(i, c, v));
      layers.push({ index: i + 1, kind: 'relu' });
      c = v;
    }
  }
  return new TorchvisionTrunk('torchvision-vgg16', layers, [3, 8, 15, 22, 29], opts);
}

/**
 * torchvision's `alexnet().features` read at LPIPS's five taps relu1..relu5 (after Sequential indices
 * 1, 4, 7, 9, 11; channels 64, 192, 384, 256, 256): conv 11x11 stride 4 pad 2 (index 0), max-pool 3/2,
 * conv 5x5 pad 2 (3), max-pool 3/2, conv 3x3 pad 1 (6, 8, 10). Needs inputs of at least 31 x 31.
 *
 * The weights are random until `loadTorchvisionStateDict` loads a user's torchvision AlexNet checkpoint.
 */
export function alexnetTrunk(opts: TorchvisionTrunkOptions = {}): TorchvisionTrunk {
  const layers: TorchvisionLayer[] = [
    conv(0, 3, 64, 11, 4, 2),
    { index: 1, kind: 'relu' },
    { index: 2, kind: 'maxpool', kernel: 3, stride: 2 },
    conv(3, 64, 192, 5, 1, 2),
    { index: 4, kind: 'relu' },
    { index: 5, kind: 'maxpool', kernel: 3, stride: 2 },
    conv(6, 192, 384),
    { index: 7, kind: 'relu' },
    conv(8, 384, 256),
    { index: 9, kind: 'relu' },
    conv(10, 256, 256),
    { index: 11, kind: 'relu' },
  ];
  return new TorchvisionTrunk('torchvision-alexnet', layers, [1, 4, 7, 9, 11], opts);
}
