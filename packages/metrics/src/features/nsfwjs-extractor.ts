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
 * The Keras graph is interpreted from the model JSON: each Conv2D -> BatchNormalization (moving
 * statistics, eps from the config) -> ReLU chain runs as one fused conv with the BatchNorm folded in.
 * The model's last pool is an 8x8 'valid' average pool over mixed10's 8x8 map at 299 x 299; it is taken
 * as a global average, which is the same there and lets smaller inputs (>= 75 px) through.
 */
import { decodeManifestWeights, type KerasLayerJson, type NsfwjsInceptionSource } from '@ldmae/losses';
import * as tf from '@tensorflow/tfjs-core';
import { describePipeline, nsfwjsPreprocess, type PipelineOptions } from './preprocess.js';
import type { ExtractedFeatures, FeatureExtractor } from './types.js';

/** Name of the offline extractor at its native 299 x 299 input. */
export const NSFWJS_EXTRACTOR_NAME = 'nsfwjs-4.4.0-inceptionv3:flatten_1';

/** The layer whose output is globally averaged into the 2048-d feature. */
const LAST = 'mixed10';

type Node =
  | { kind: 'input' }
  | {
      kind: 'conv';
      input: string;
      kernel: tf.Tensor4D;
      bias: tf.Tensor1D | null;
      stride: number;
      padding: 'same' | 'valid';
      relu: boolean;
    }
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
    throw new Error(`KerasInception: layer '${l.name}' is shared (called ${nodes.length} times)`);
  return ((nodes[0] ?? []) as unknown[][]).map((n) => String(n[0]));
}

function pairOf(v: unknown, what: string): [number, number] {
  const p = Array.isArray(v) ? v : [v, v];
  if (p.length !== 2 || !p.every((d) => Number.isInteger(d) && d >= 1))
    throw new Error(`KerasInception: ${what} is ${JSON.stringify(v)}`);
  return [p[0], p[1]];
}

/**
 * The nsfwjs Keras InceptionV3 from its input to mixed10, as a small graph interpreter. Owns its weight
 * tensors.
 */
export class KerasInception {
  private readonly order: string[] = [];
  private readonly nodes = new Map<string, Node>();
  private readonly alias = new Map<string, string>();
  private disposed = false;

  /**
   * @throws naming the layer, when the JSON is not a tfjs layers model, or a layer before mixed10 is of
   *   a kind it cannot run.
   */
  constructor(source: NsfwjsInceptionSource) {
    const layers = source?.modelJson?.modelTopology?.model_config?.config?.layers;
    if (
      !Array.isArray(layers) ||
      !Array.isArray(source.modelJson.weightsManifest) ||
      !Array.isArray(source.weightShards)
    ) {
      throw new TypeError(
        'KerasInception: source must be {modelJson: a tfjs layers model.json (modelTopology + weightsManifest), weightShards: [...]}',
      );
    }
    const byName = new Map(layers.map((l) => [l.name, l]));
    if (!byName.has(LAST))
      throw new Error(`KerasInception: the model has no layer '${LAST}' (not the nsfwjs InceptionV3?)`);
    const needed = new Set<string>();
    const stack = [LAST];
    while (stack.length) {
      const n = stack.pop() as string;
      if (needed.has(n)) continue;
      needed.add(n);
      const l = byName.get(n);
      if (!l) throw new Error(`KerasInception: layer '${n}' is referenced but not defined`);
      stack.push(...inbound(l));
    }
    const consumers = new Map<string, number>();
    for (const l of layers)
      if (needed.has(l.name)) for (const i of inbound(l)) consumers.set(i, (consumers.get(i) ?? 0) + 1);
    const names = new Set<string>();
    for (const l of layers) {
      if (!needed.has(l.name)) continue;
      if (l.class_name === 'Conv2D') {
        names.add(`${l.name}/kernel`);
        if (l.config.use_bias) names.add(`${l.name}/bias`);
      } else if (l.class_name === 'BatchNormalization') {
        names.add(`${l.name}/moving_mean`);
        names.add(`${l.name}/moving_variance`);
        if (l.config.scale) names.add(`${l.name}/gamma`);
        if (l.config.center) names.add(`${l.name}/beta`);
      }
    }
    const w = decodeManifestWeights(source.modelJson.weightsManifest, source.weightShards, names);
    try {
      for (const l of layers) if (needed.has(l.name)) this.addLayer(l, w, consumers);
    } catch (e) {
      this.dispose();
      throw e;
    } finally {
      for (const t of w.values()) t.dispose();
    }
  }

  private resolve(n: string): string {
    return this.alias.get(n) ?? n;
  }

  private addLayer(l: KerasLayerJson, w: Map<string, tf.Tensor>, consumers: Map<string, number>): void {
    const raw = inbound(l);
    const ins = raw.map((n) => this.resolve(n));
    const c = l.config;
    const add = (node: Node) => {
      this.order.push(l.name);
      this.nodes.set(l.name, node);
    };
    // A BatchNormalization or ReLU folds into the conv before it when that conv feeds nothing else.
    const foldable = () => {
      const src = this.nodes.get(ins[0]);
      return src?.kind === 'conv' && !src.relu && consumers.get(raw[0]) === 1 ? src : null;
    };
    switch (l.class_name) {
      case 'InputLayer':
        add({ kind: 'input' });
        return;
      case 'Conv2D': {
        if (c.data_format && c.data_format !== 'channels_last')
          throw new Error(`KerasInception: '${l.name}' is not channels_last`);
        if (pairOf(c.dilation_rate ?? 1, `${l.name} dilation`).some((d) => d !== 1))
          throw new Error(`KerasInception: '${l.name}' is dilated`);
        const [sh, sw] = pairOf(c.strides ?? 1, `${l.name} strides`);
        if (sh !== sw) throw new Error(`KerasInception: '${l.name}' has unequal strides`);
        if (c.activation !== 'linear' && c.activation !== 'relu')
          throw new Error(`KerasInception: '${l.name}' has activation '${c.activation}'`);
        add({
          kind: 'conv',
          input: ins[0],
          kernel: tf.keep(w.get(`${l.name}/kernel`)?.clone() as tf.Tensor4D),
          bias: c.use_bias ? tf.keep(w.get(`${l.name}/bias`)?.clone() as tf.Tensor1D) : null,
          stride: sh,
          padding: c.padding === 'same' ? 'same' : 'valid',
          relu: c.activation === 'relu',
        });
        return;
      }
      case 'BatchNormalization': {
        const conv = foldable();
        if (!conv || (c.axis !== 3 && c.axis !== -1))
          throw new Error(
            `KerasInception: '${l.name}' does not follow a linear Conv2D it alone consumes (cannot fold it)`,
          );
        const eps = Number(c.epsilon ?? 1e-3);
        const get = (n: string) => w.get(`${l.name}/${n}`);
        const cout = conv.kernel.shape[3];
        const [kernel, bias] = tf.tidy(() => {
          const s = tf.div(
            get('gamma') ?? tf.ones([cout]),
            tf.sqrt(tf.add(get('moving_variance') as tf.Tensor, eps)),
          );
          const b = tf.add(
            tf.mul(tf.sub(conv.bias ?? tf.zeros([cout]), get('moving_mean') as tf.Tensor), s),
            get('beta') ?? tf.zeros([cout]),
          );
          return [tf.mul(conv.kernel, s) as tf.Tensor4D, b as tf.Tensor1D];
        });
        conv.kernel.dispose();
        conv.bias?.dispose();
        conv.kernel = kernel;
        conv.bias = bias;
        this.alias.set(l.name, ins[0]);
        return;
      }
      case 'Activation': {
        if (c.activation !== 'relu')
          throw new Error(`KerasInception: '${l.name}' has activation '${c.activation}'`);
        const conv = foldable();
        if (conv) {
          conv.relu = true;
          this.alias.set(l.name, ins[0]);
        } else add({ kind: 'relu', input: ins[0] });
        return;
      }
      case 'MaxPooling2D':
      case 'AveragePooling2D':
        add({
          kind: 'pool',
          input: ins[0],
          op: l.class_name === 'MaxPooling2D' ? 'max' : 'avg',
          size: pairOf(c.pool_size, `${l.name} pool_size`),
          strides: pairOf(c.strides ?? c.pool_size, `${l.name} strides`),
          padding: c.padding === 'same' ? 'same' : 'valid',
        });
        return;
      case 'Concatenate':
        if (c.axis !== 3 && c.axis !== -1)
          throw new Error(`KerasInception: '${l.name}' concatenates on axis ${c.axis}`);
        add({ kind: 'concat', inputs: ins });
        return;
      default:
        throw new Error(`KerasInception: layer '${l.name}' of class ${l.class_name} is not supported`);
    }
  }

  /**
   * Runs the graph on [n, H, W, 3] (H, W >= 75; the model expects [0, 1] values at 299 x 299).
   *
   * @param taps - layer names whose outputs to return besides the pool feature (e.g. 'mixed5').
   * @returns pool [n, 2048] (global average of mixed10) and the taps; the caller owns them.
   */
  forward(x: tf.Tensor4D, taps: readonly string[] = []): { pool: tf.Tensor2D; taps: tf.Tensor4D[] } {
    if (this.disposed) throw new Error('KerasInception.forward: the network was disposed');
    if (!(x instanceof tf.Tensor) || x.rank !== 4 || x.shape[3] !== 3 || x.shape[1] < 75 || x.shape[2] < 75)
      throw new Error(
        `KerasInception.forward: x must be [n, H, W, 3] with H, W >= 75, got ${x instanceof tf.Tensor ? `[${x.shape}]` : typeof x}`,
      );
    const tapNodes = taps.map((t) => {
      const r = this.resolve(t);
      if (!this.nodes.has(r)) throw new Error(`KerasInception.forward: no layer '${t}' up to ${LAST}`);
      return r;
    });
    return tf.tidy(() => {
      const v = new Map<string, tf.Tensor4D>();
      const at = (n: string) => v.get(n) as tf.Tensor4D;
      for (const name of this.order) {
        const n = this.nodes.get(name) as Node;
        let y: tf.Tensor4D;
        if (n.kind === 'input') y = x;
        else if (n.kind === 'conv')
          y = tf.fused.conv2d({
            x: at(n.input),
            filter: n.kernel,
            strides: n.stride,
            pad: n.padding,
            bias: n.bias ?? undefined,
            activation: n.relu ? 'relu' : 'linear',
          });
        else if (n.kind === 'relu') y = tf.relu(at(n.input));
        else if (n.kind === 'pool')
          y =
            n.op === 'max'
              ? tf.maxPool(at(n.input), n.size, n.strides, n.padding)
              : tf.avgPool(at(n.input), n.size, n.strides, n.padding);
        else y = tf.concat(n.inputs.map(at), 3);
        v.set(name, y);
      }
      return { pool: tf.mean(at(LAST), [1, 2]) as tf.Tensor2D, taps: tapNodes.map(at) };
    });
  }

  dispose(): void {
    this.disposed = true;
    for (const n of this.nodes.values()) {
      if (n.kind !== 'conv') continue;
      n.kernel.dispose();
      n.bias?.dispose();
    }
    this.nodes.clear();
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
    if (!(images instanceof tf.Tensor) || images.rank !== 4 || images.shape[3] !== 3) {
      throw new Error(
        `${this.name}.extract: images must be a tf.Tensor4D [n, H, W, 3] in [-1, 1], got ${images instanceof tf.Tensor ? `[${images.shape}]` : typeof images}`,
      );
    }
    const n = images.shape[0];
    const pool = new Float32Array(n * 2048);
    for (let b0 = 0; b0 < n; b0 += this.maxBatch) {
      const b1 = Math.min(n, b0 + this.maxBatch);
      const p = tf.tidy(() => {
        const x = b0 === 0 && b1 === n ? images : tf.slice(images, [b0, 0, 0, 0], [b1 - b0, -1, -1, -1]);
        return this.net.forward(nsfwjsPreprocess(x, this.opts)).pool;
      });
      try {
        pool.set((await p.data()) as Float32Array, b0 * 2048);
      } finally {
        p.dispose();
      }
    }
    return { pool };
  }

  dispose(): void {
    this.net.dispose();
  }
}
