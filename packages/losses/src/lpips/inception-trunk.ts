/**
 * An offline LPIPS trunk: the early, ImageNet-trained layers of the InceptionV3 inside the npm package
 * `nsfwjs` (stem through mixed5, which nsfwjs kept frozen, `trainable: false`, while fine-tuning the
 * top half for its classifier). The Keras graph is read by {@link KerasGraph}; each Conv2D's
 * BatchNormalization (moving statistics, eps 1e-3) is folded into a {@link FrozenConv2d}'s kernel and bias.
 */
import { Module } from '@ldmae/core';
import * as tf from '@tensorflow/tfjs-core';
import { KerasGraph, kerasModelLayers } from '../keras/keras-graph.js';
import { FrozenConv2d } from './frozen-conv.js';
import type { NsfwjsInceptionSource } from './nsfwjs-source.js';
import type { LpipsTrunk } from './trunk.js';

/** Name of the trunk with its default taps. */
export const NSFWJS_INCEPTION_TRUNK_NAME = 'nsfwjs-inceptionv3-early';

/**
 * Default taps: the stem's last 147-level ReLU (`activation_3`, 64 channels, ~H/2), the stem's last
 * ReLU (`activation_5`, 192, ~H/4), the first and last 35-level blocks (`mixed0`, 256, and `mixed2`,
 * 288, ~H/8) and the deepest frozen block (`mixed5`, 768, ~H/16). All are post-ReLU (a Concatenate of
 * ReLU branches and, for none of these, a max-pool).
 */
export const NSFWJS_INCEPTION_DEFAULT_TAPS: readonly string[] = [
  'activation_3',
  'activation_5',
  'mixed0',
  'mixed2',
  'mixed5',
];

/** The deepest layer whose weights nsfwjs did not fine-tune; taps must not lie after it. */
export const NSFWJS_INCEPTION_LAST_FROZEN = 'mixed5';

/** Options of {@link InceptionTrunk}. */
export interface InceptionTrunkOptions {
  /** Layer names to tap, shallow to deep; default: the nsfwjs InceptionV3 taps used by the offline LPIPS. */
  taps?: readonly string[];
}

/**
 * The nsfwjs InceptionV3 from its input through the deepest requested tap. It takes the [-1, 1] image
 * unchanged (`inputScaling: 'none'`), which is the input range of Keras's ImageNet InceptionV3
 * (`preprocess_input`: x / 127.5 - 1) that these frozen layers come from; nsfwjs itself feeds [0, 1].
 * Any input of at least 43 x 43 works with the default taps (299 x 299 is the network's native size).
 */
export class InceptionTrunk extends Module implements LpipsTrunk {
  readonly name: string;
  readonly tapNames: readonly string[];
  readonly tapChannels: readonly number[];
  readonly inputScaling = 'none' as const;
  private readonly graph: KerasGraph;

  /**
   * Build from the nsfwjs model JSON and weight shards. Decodes only the weights the taps need.
   * @throws naming the layer, for an unknown tap, a tap past mixed5, or a layer kind it cannot run.
   */
  constructor(source: NsfwjsInceptionSource, opts: InceptionTrunkOptions = {}) {
    super();
    const layers = kerasModelLayers(source, 'InceptionTrunk');
    const taps = [...(opts.taps ?? NSFWJS_INCEPTION_DEFAULT_TAPS)];
    if (taps.length === 0) throw new Error('InceptionTrunk: taps must name at least one layer');
    const index = new Map(layers.map((l, i) => [l.name, i]));
    const lastFrozen = index.get(NSFWJS_INCEPTION_LAST_FROZEN) ?? layers.length - 1;
    let prev = -1;
    for (const t of taps) {
      const i = index.get(t);
      if (i === undefined) throw new Error(`InceptionTrunk: no layer '${t}' in the model`);
      if (i > lastFrozen)
        throw new Error(
          `InceptionTrunk: tap '${t}' lies past ${NSFWJS_INCEPTION_LAST_FROZEN} (layers there were fine-tuned for NSFW classification)`,
        );
      if (i <= prev)
        throw new Error(`InceptionTrunk: taps must be listed shallow to deep, '${t}' is out of order`);
      prev = i;
    }
    try {
      // Each conv is a registered FrozenConv2d (in stateDict, out of parameters()) with its ReLU fused.
      this.graph = new KerasGraph(source, {
        outputs: taps,
        owner: 'InceptionTrunk',
        conv: ({ name, kernel, bias, stride, padding, relu }) => {
          const [kh, kw, cin, cout] = kernel.shape;
          const conv = new FrozenConv2d(cin, cout, [kh, kw], { stride, padding, init: 'zeros' });
          try {
            conv.setWeights(kernel, bias ?? undefined);
          } finally {
            tf.dispose([kernel, ...(bias ? [bias] : [])]);
          }
          this.registerModule(name, conv);
          return {
            forward: (x) => conv.forward(x, { relu }),
            dispose: () => conv.dispose(),
          };
        },
      });
    } catch (e) {
      super.dispose();
      throw e;
    }
    this.tapNames = taps;
    this.tapChannels = taps.map((t) => this.graph.channels(t));
    const isDefault = taps.join() === NSFWJS_INCEPTION_DEFAULT_TAPS.join();
    this.name = isDefault ? NSFWJS_INCEPTION_TRUNK_NAME : `${NSFWJS_INCEPTION_TRUNK_NAME}[${taps.join(',')}]`;
  }

  /** Spatial size [h, w] of every tap for an H x W input. */
  tapSizes(h: number, w: number): [number, number][] {
    const s = this.graph.outputSizes(h, w);
    return this.tapNames.map((t) => s.get(t) as [number, number]);
  }

  checkInputSize(h: number, w: number): void {
    const ok = (a: number, b: number): boolean =>
      [...this.graph.outputSizes(a, b).values()].every(([x, y]) => x >= 1 && y >= 1);
    if (ok(h, w)) return;
    let m = 1;
    while (!ok(m, m)) m++;
    throw new Error(`${this.name}: input ${h}x${w} is too small; every side must be at least ${m} px`);
  }

  forward(x: tf.Tensor4D): tf.Tensor4D[] {
    if (x.rank !== 4 || x.shape[3] !== 3)
      throw new Error(`${this.name}.forward: x must be [B, H, W, 3] (NHWC), got [${x.shape}]`);
    this.checkInputSize(x.shape[1], x.shape[2]);
    return this.graph.run(x, this.tapNames[this.tapNames.length - 1], this.tapNames);
  }

  /** Release the weights. */
  override dispose(): void {
    this.graph.dispose();
    super.dispose();
  }
}
