/**
 * An offline LPIPS trunk: the early, ImageNet-trained layers of the InceptionV3 inside the npm package
 * `nsfwjs` (stem through mixed5, which nsfwjs kept frozen, `trainable: false`, while fine-tuning the
 * top half for its classifier). The Keras graph is interpreted from the model JSON; each Conv2D's
 * BatchNormalization (moving statistics, eps 1e-3) is folded into the conv's kernel and bias.
 */
import { Module } from '@ldmae/core';
import * as tf from '@tensorflow/tfjs-core';
import { FrozenConv2d } from './frozen-conv.js';
import { decodeManifestWeights, type KerasLayerJson, type NsfwjsInceptionSource } from './nsfwjs-source.js';
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

type Node =
  | { kind: 'input' }
  | { kind: 'conv'; input: string; conv: FrozenConv2d }
  | { kind: 'relu'; input: string }
  | {
      kind: 'pool';
      input: string;
      op: 'max' | 'avg';
      size: [number, number];
      strides: [number, number];
      padding: 'same' | 'valid';
    }
  | { kind: 'concat'; inputs: string[] };

function inbound(l: KerasLayerJson): string[] {
  const nodes = l.inbound_nodes ?? [];
  if (nodes.length > 1)
    throw new Error(
      `InceptionTrunk: layer '${l.name}' is called ${nodes.length} times (shared layers are not supported)`,
    );
  return ((nodes[0] ?? []) as unknown[][]).map((n) => String(n[0]));
}

function pairOf(v: unknown, what: string): [number, number] {
  const p = Array.isArray(v) ? v : [v, v];
  if (p.length !== 2 || !p.every((d) => Number.isInteger(d) && d >= 1))
    throw new Error(`InceptionTrunk: ${what} is ${JSON.stringify(v)}`);
  return [p[0], p[1]];
}

/** Options of {@link InceptionTrunk}. */
export interface InceptionTrunkOptions {
  /** Layer names to tap, shallow to deep; default {@link NSFWJS_INCEPTION_DEFAULT_TAPS}. */
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
  private readonly order: string[] = [];
  private readonly nodes = new Map<string, Node>();
  private readonly channels = new Map<string, number>();

  /**
   * Build from the nsfwjs model JSON and weight shards. Decodes only the weights the taps need.
   * @throws naming the layer, for an unknown tap, a tap past mixed5, or a layer kind it cannot run.
   */
  constructor(source: NsfwjsInceptionSource, opts: InceptionTrunkOptions = {}) {
    super();
    const layers = source?.modelJson?.modelTopology?.model_config?.config?.layers;
    if (!Array.isArray(layers) || !Array.isArray(source.modelJson.weightsManifest)) {
      throw new TypeError(
        'InceptionTrunk: source.modelJson must be a tfjs layers model.json (modelTopology + weightsManifest)',
      );
    }
    if (!Array.isArray(source.weightShards))
      throw new TypeError('InceptionTrunk: source.weightShards must be an array');
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
    const byName = new Map(layers.map((l) => [l.name, l]));
    // Only the ancestors of the taps are built.
    const needed = new Set<string>();
    const stack = [...taps];
    while (stack.length) {
      const n = stack.pop()!;
      if (needed.has(n)) continue;
      needed.add(n);
      const l = byName.get(n);
      if (!l) throw new Error(`InceptionTrunk: layer '${n}' is referenced but not defined`);
      stack.push(...inbound(l));
    }
    const consumers = new Map<string, number>();
    for (const l of layers)
      if (needed.has(l.name)) for (const i of inbound(l)) consumers.set(i, (consumers.get(i) ?? 0) + 1);

    const weightNames = new Set<string>();
    for (const l of layers) {
      if (!needed.has(l.name)) continue;
      if (l.class_name === 'Conv2D') {
        weightNames.add(`${l.name}/kernel`);
        if (l.config.use_bias) weightNames.add(`${l.name}/bias`);
      } else if (l.class_name === 'BatchNormalization') {
        for (const w of ['moving_mean', 'moving_variance']) weightNames.add(`${l.name}/${w}`);
        if (l.config.scale) weightNames.add(`${l.name}/gamma`);
        if (l.config.center) weightNames.add(`${l.name}/beta`);
      }
    }
    const w = decodeManifestWeights(source.modelJson.weightsManifest, source.weightShards, weightNames);
    try {
      const alias = new Map<string, string>();
      const resolve = (n: string): string => alias.get(n) ?? n;
      for (const l of layers) {
        if (!needed.has(l.name)) continue;
        const ins = inbound(l).map(resolve);
        const c = l.config;
        switch (l.class_name) {
          case 'InputLayer': {
            const shape = c.batch_input_shape as number[] | undefined;
            this.add(l.name, { kind: 'input' }, shape?.[3] ?? 3);
            break;
          }
          case 'Conv2D': {
            if (c.data_format && c.data_format !== 'channels_last')
              throw new Error(`InceptionTrunk: '${l.name}' is not channels_last`);
            if (pairOf(c.dilation_rate ?? 1, `${l.name} dilation`).some((d) => d !== 1))
              throw new Error(`InceptionTrunk: '${l.name}' is dilated`);
            const [sh, sw] = pairOf(c.strides ?? 1, `${l.name} strides`);
            if (sh !== sw) throw new Error(`InceptionTrunk: '${l.name}' has unequal strides`);
            const kernel = w.get(`${l.name}/kernel`)!;
            const [kh, kw, cin, cout] = kernel.shape;
            const conv = new FrozenConv2d(cin, cout, [kh, kw], {
              stride: sh,
              padding: c.padding as 'same' | 'valid',
              init: 'zeros',
            });
            conv.setWeights(kernel, w.get(`${l.name}/bias`));
            this.registerModule(l.name, conv);
            this.add(l.name, { kind: 'conv', input: ins[0], conv }, cout);
            if (c.activation === 'relu') {
              this.add(`${l.name}:relu`, { kind: 'relu', input: l.name }, cout);
              alias.set(l.name, `${l.name}:relu`);
            } else if (c.activation !== 'linear')
              throw new Error(`InceptionTrunk: '${l.name}' has activation '${c.activation}'`);
            break;
          }
          case 'BatchNormalization': {
            const src = this.nodes.get(ins[0]);
            if (
              src?.kind !== 'conv' ||
              consumers.get(inbound(l)[0]) !== 1 ||
              (c.axis !== 3 && c.axis !== -1)
            ) {
              throw new Error(
                `InceptionTrunk: '${l.name}' is not the only consumer of a linear Conv2D (cannot fold it)`,
              );
            }
            this.foldBatchNorm(src.conv, l, w);
            alias.set(l.name, ins[0]);
            break;
          }
          case 'Activation':
            if (c.activation !== 'relu')
              throw new Error(
                `InceptionTrunk: '${l.name}' has activation '${c.activation}', only relu is supported`,
              );
            this.add(l.name, { kind: 'relu', input: ins[0] }, this.channels.get(ins[0])!);
            break;
          case 'MaxPooling2D':
          case 'AveragePooling2D':
            this.add(
              l.name,
              {
                kind: 'pool',
                input: ins[0],
                op: l.class_name === 'MaxPooling2D' ? 'max' : 'avg',
                size: pairOf(c.pool_size, `${l.name} pool_size`),
                strides: pairOf(c.strides ?? c.pool_size, `${l.name} strides`),
                padding: c.padding === 'same' ? 'same' : 'valid',
              },
              this.channels.get(ins[0])!,
            );
            break;
          case 'Concatenate':
            if (c.axis !== 3 && c.axis !== -1)
              throw new Error(`InceptionTrunk: '${l.name}' concatenates on axis ${c.axis}`);
            this.add(
              l.name,
              { kind: 'concat', inputs: ins },
              ins.reduce((a, i) => a + this.channels.get(i)!, 0),
            );
            break;
          default:
            throw new Error(`InceptionTrunk: layer '${l.name}' of class ${l.class_name} is not supported`);
        }
      }
      this.tapNames = taps;
      const resolved = taps.map(resolve);
      this.tapOf = resolved;
      this.tapChannels = resolved.map((t) => this.channels.get(t)!);
    } catch (e) {
      super.dispose();
      throw e;
    } finally {
      for (const t of w.values()) t.dispose();
    }
    const isDefault = taps.join() === NSFWJS_INCEPTION_DEFAULT_TAPS.join();
    this.name = isDefault ? NSFWJS_INCEPTION_TRUNK_NAME : `${NSFWJS_INCEPTION_TRUNK_NAME}[${taps.join(',')}]`;
  }

  private readonly tapOf: string[];

  private add(name: string, node: Node, channels: number): void {
    this.order.push(name);
    this.nodes.set(name, node);
    this.channels.set(name, channels);
  }

  // BN(y) = (y - mean) / sqrt(var + eps) * gamma + beta with y = conv(x) + b: scale the kernel's output
  // channels by s = gamma / sqrt(var + eps) and set the bias to (b - mean) * s + beta.
  private foldBatchNorm(conv: FrozenConv2d, l: KerasLayerJson, w: Map<string, tf.Tensor>): void {
    const eps = Number(l.config.epsilon ?? 1e-3);
    const get = (n: string): tf.Tensor | undefined => w.get(`${l.name}/${n}`);
    tf.tidy(() => {
      const c = conv.outChannels;
      const s = tf.div(
        get('gamma') ?? tf.ones([c]),
        tf.sqrt(tf.add(get('moving_variance') as tf.Tensor, eps)),
      );
      const b = conv.bias ?? tf.zeros([c]);
      const bias = tf.add(
        tf.mul(tf.sub(b, get('moving_mean') as tf.Tensor), s),
        get('beta') ?? tf.zeros([c]),
      );
      conv.setWeights(tf.mul(conv.weight, s), bias);
    });
  }

  /** Spatial size [h, w] of every node for an H x W input (sides < 1 mean the input is too small). */
  private sizes(h: number, w: number): Map<string, [number, number]> {
    const out = new Map<string, [number, number]>();
    for (const name of this.order) {
      const n = this.nodes.get(name) as Node;
      let hw: [number, number];
      if (n.kind === 'input') hw = [h, w];
      else if (n.kind === 'conv') {
        const [ih, iw] = out.get(n.input) as [number, number];
        hw = n.conv.outputSize(ih, iw);
      } else if (n.kind === 'pool') {
        const [ih, iw] = out.get(n.input) as [number, number];
        hw =
          n.padding === 'same'
            ? [Math.ceil(ih / n.strides[0]), Math.ceil(iw / n.strides[1])]
            : [
                Math.floor((ih - n.size[0]) / n.strides[0]) + 1,
                Math.floor((iw - n.size[1]) / n.strides[1]) + 1,
              ];
      } else if (n.kind === 'relu') hw = out.get(n.input) as [number, number];
      else hw = out.get(n.inputs[0]) as [number, number];
      out.set(name, hw);
    }
    return out;
  }

  /** Spatial size [h, w] of every tap for an H x W input. */
  tapSizes(h: number, w: number): [number, number][] {
    const s = this.sizes(h, w);
    return this.tapOf.map((t) => s.get(t) as [number, number]);
  }

  checkInputSize(h: number, w: number): void {
    const ok = (a: number, b: number): boolean =>
      [...this.sizes(a, b).values()].every(([x, y]) => x >= 1 && y >= 1);
    if (ok(h, w)) return;
    let m = 1;
    while (!ok(m, m)) m++;
    throw new Error(`${this.name}: input ${h}x${w} is too small; every side must be at least ${m} px`);
  }

  forward(x: tf.Tensor4D): tf.Tensor4D[] {
    if (x.rank !== 4 || x.shape[3] !== 3)
      throw new Error(`${this.name}.forward: x must be [B, H, W, 3] (NHWC), got [${x.shape}]`);
    this.checkInputSize(x.shape[1], x.shape[2]);
    return tf.tidy(() => {
      const v = new Map<string, tf.Tensor4D>();
      const at = (n: string): tf.Tensor4D => v.get(n) as tf.Tensor4D;
      for (const name of this.order) {
        const n = this.nodes.get(name) as Node;
        let y: tf.Tensor4D;
        if (n.kind === 'input') y = x;
        else if (n.kind === 'conv') y = n.conv.forward(at(n.input));
        else if (n.kind === 'relu') y = tf.relu(at(n.input));
        else if (n.kind === 'pool') {
          y =
            n.op === 'max'
              ? tf.maxPool(at(n.input), n.size, n.strides, n.padding)
              : tf.avgPool(at(n.input), n.size, n.strides, n.padding);
        } else y = tf.concat(n.inputs.map(at), 3);
        v.set(name, y);
      }
      return this.tapOf.map(at);
    });
  }
}
