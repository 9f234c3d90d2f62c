/**
 * A small interpreter of Keras (2.x) functional models as tfjs exports them (a layers `model.json` plus
 * weight shards): enough layer types for an InceptionV3 (Conv2D, BatchNormalization, ReLU Activation,
 * max / average pooling, Concatenate). Each Conv2D -> BatchNormalization (moving statistics) -> ReLU
 * chain becomes one convolution with the BatchNorm folded into its kernel and bias. Browser-safe: the
 * caller hands over the model JSON object and the shard contents.
 */
import * as tf from '@tensorflow/tfjs-core';
import { decodeManifestWeights, type KerasLayersModelJson } from '../lpips/nsfwjs-source.js';

/** A Keras layers model: its `model.json` object and its weight shards, in manifest order. */
export interface KerasModelSource {
  /** The tfjs layers `model.json` (modelTopology + weightsManifest). */
  modelJson: KerasLayersModelJson;
  /** Each shard as bytes, a base64 string, or the text of a shard module exporting one (see `shardBytes`). */
  weightShards: (string | Uint8Array)[];
}

/** One layer of a Keras model, with the names of the layers it reads. */
export interface KerasGraphLayer {
  /** Layer name, e.g. 'conv2d_1'. */
  name: string;
  /** Keras class, e.g. 'Conv2D'. */
  className: string;
  /** The layer's Keras config. */
  config: Record<string, unknown>;
  /** Names of the layers whose outputs it takes, in order (empty for an InputLayer). */
  inbound: string[];
}

/**
 * The layers of a Keras functional model in the order of its config, which Keras writes topologically.
 * @param owner - prefix of error messages (the class reading the model).
 * @throws TypeError when `source` is not a layers model.json with weight shards; Error naming the layer
 *   when a layer is called more than once (shared layers) or reads a layer defined after it.
 */
export function kerasModelLayers(source: KerasModelSource, owner = 'KerasGraph'): KerasGraphLayer[] {
  const layers = source?.modelJson?.modelTopology?.model_config?.config?.layers;
  if (
    !Array.isArray(layers) ||
    !Array.isArray(source.modelJson.weightsManifest) ||
    !Array.isArray(source.weightShards)
  ) {
    throw new TypeError(
      `${owner}: source must be {modelJson: a tfjs layers model.json (modelTopology + weightsManifest), weightShards: [...]}`,
    );
  }
  const seen = new Set<string>();
  return layers.map((l) => {
    const nodes = l.inbound_nodes ?? [];
    if (nodes.length > 1)
      throw new Error(
        `${owner}: layer '${l.name}' is called ${nodes.length} times (shared layers are not supported)`,
      );
    const inbound = ((nodes[0] ?? []) as unknown[][]).map((n) => String(n[0]));
    for (const i of inbound) {
      if (!seen.has(i))
        throw new Error(
          `${owner}: layer '${l.name}' reads '${i}', which is not defined before it (layers must be listed in topological order)`,
        );
    }
    if (seen.has(l.name)) throw new Error(`${owner}: layer name '${l.name}' is used twice`);
    seen.add(l.name);
    return { name: l.name, className: l.class_name, config: l.config ?? {}, inbound };
  });
}

/** A convolution as {@link KerasGraph} runs it; the graph calls `dispose` when it is disposed. */
export interface KerasConv {
  /** x [B, H, W, in] -> [B, H', W', out], with the ReLU applied when the spec asked for it. */
  forward(x: tf.Tensor4D): tf.Tensor4D;
  /** Release the weights. */
  dispose(): void;
}

/** What a {@link KerasGraphOptions.conv} factory builds a convolution from. */
export interface KerasConvSpec {
  /** The Conv2D layer's name. */
  name: string;
  /** [kh, kw, in, out] with any following BatchNormalization folded in; the factory owns it. */
  kernel: tf.Tensor4D;
  /** [out] (conv bias and folded BatchNormalization), or null for none; the factory owns it. */
  bias: tf.Tensor1D | null;
  /** Stride, equal in height and width. */
  stride: number;
  /** TF padding. */
  padding: 'same' | 'valid';
  /** Apply a ReLU after the bias (the conv's own activation or an Activation folded into it). */
  relu: boolean;
}

/** Options of {@link KerasGraph}. */
export interface KerasGraphOptions {
  /** The layers to compute; only they and their ancestors are built. Default: the model's last layer. */
  outputs?: readonly string[];
  /** Prefix of error messages, e.g. the class that uses the graph. Default 'KerasGraph'. */
  owner?: string;
  /**
   * Builds the convolution of each Conv2D (after folding). Default: one `tf.fused.conv2d` with bias and
   * ReLU, holding the tensors of the spec.
   */
  conv?: (spec: KerasConvSpec) => KerasConv;
}

/** One node of a {@link KerasGraph}: a Keras layer, or a chain of them folded into a convolution. */
export type KerasGraphNode =
  | { kind: 'input'; name: string; channels: number }
  | {
      kind: 'conv';
      name: string;
      input: string;
      channels: number;
      /** [kh, kw]. */
      kernelSize: [number, number];
      stride: number;
      padding: 'same' | 'valid';
      relu: boolean;
      conv: KerasConv;
    }
  | { kind: 'relu'; name: string; input: string; channels: number }
  | {
      kind: 'pool';
      name: string;
      input: string;
      channels: number;
      op: 'max' | 'avg';
      size: [number, number];
      strides: [number, number];
      padding: 'same' | 'valid';
    }
  | { kind: 'concat'; name: string; inputs: string[]; channels: number };

// While reading, a conv node carries its (folded) weights until its KerasConv is made.
type Building = KerasGraphNode & { kernel?: tf.Tensor4D; bias?: tf.Tensor1D | null };

function fusedConv(s: KerasConvSpec): KerasConv {
  const kernel = tf.keep(s.kernel);
  const bias = s.bias ? tf.keep(s.bias) : undefined;
  return {
    forward: (x) =>
      tf.fused.conv2d({
        x,
        filter: kernel,
        strides: s.stride,
        pad: s.padding,
        bias,
        activation: s.relu ? 'relu' : 'linear',
      }),
    dispose: () => {
      kernel.dispose();
      bias?.dispose();
    },
  };
}

/**
 * A Keras functional graph read from a layers `model.json` and its weights, run with tfjs ops. Owns
 * its convolutions. Keras layer names stay valid after folding: a folded BatchNormalization or
 * Activation names the convolution it was folded into.
 */
export class KerasGraph {
  /** The nodes in topological order (inputs before the nodes that read them). */
  readonly nodes: readonly KerasGraphNode[];
  private readonly owner: string;
  private readonly index = new Map<string, number>();
  private readonly alias = new Map<string, string>();
  private disposed = false;

  /**
   * Read the graph and decode the weights it needs.
   * @throws naming the layer, when `source` is not a layers model, an output is not in it, or a layer
   *   the outputs depend on is of a kind or configuration it cannot run.
   */
  constructor(source: KerasModelSource, opts: KerasGraphOptions = {}) {
    const owner = opts.owner ?? 'KerasGraph';
    this.owner = owner;
    const layers = kerasModelLayers(source, owner);
    const outputs = opts.outputs ?? layers.slice(-1).map((l) => l.name);
    if (outputs.length === 0) throw new Error(`${owner}: outputs must name at least one layer`);
    const byName = new Map(layers.map((l) => [l.name, l]));
    const needed = new Set<string>();
    const stack = [...outputs];
    while (stack.length) {
      const n = stack.pop() as string;
      if (needed.has(n)) continue;
      const l = byName.get(n);
      if (!l) throw new Error(`${owner}: no layer '${n}' in the model`);
      needed.add(n);
      stack.push(...l.inbound);
    }
    const used = layers.filter((l) => needed.has(l.name));
    const consumers = new Map<string, number>();
    for (const l of used) for (const i of l.inbound) consumers.set(i, (consumers.get(i) ?? 0) + 1);
    const weightNames = new Set<string>();
    for (const l of used) {
      if (l.className === 'Conv2D') {
        weightNames.add(`${l.name}/kernel`);
        if (l.config.use_bias) weightNames.add(`${l.name}/bias`);
      } else if (l.className === 'BatchNormalization') {
        for (const w of ['moving_mean', 'moving_variance']) weightNames.add(`${l.name}/${w}`);
        if (l.config.scale) weightNames.add(`${l.name}/gamma`);
        if (l.config.center) weightNames.add(`${l.name}/beta`);
      }
    }
    const w = decodeManifestWeights(source.modelJson.weightsManifest, source.weightShards, weightNames);
    // Tensors to release at the end: the decoded weights and intermediate folds not handed to a conv.
    const temps = new Set<tf.Tensor>(w.values());
    const nodes: Building[] = [];
    this.nodes = nodes as KerasGraphNode[];
    try {
      for (const l of used) this.addLayer(l, w, consumers, temps, nodes);
      if (nodes.filter((n) => n.kind === 'input').length !== 1)
        throw new Error(`${owner}: the graph must have exactly one InputLayer`);
      const make = opts.conv ?? fusedConv;
      for (const n of nodes) {
        if (n.kind !== 'conv') continue;
        const spec: KerasConvSpec = {
          name: n.name,
          kernel: n.kernel as tf.Tensor4D,
          bias: n.bias ?? null,
          stride: n.stride,
          padding: n.padding,
          relu: n.relu,
        };
        temps.delete(spec.kernel);
        if (spec.bias) temps.delete(spec.bias);
        delete n.kernel;
        delete n.bias;
        try {
          n.conv = make(spec);
        } catch (e) {
          tf.dispose([spec.kernel, ...(spec.bias ? [spec.bias] : [])]);
          throw e;
        }
      }
    } catch (e) {
      this.dispose();
      throw e;
    } finally {
      tf.dispose([...temps]);
    }
  }

  private addLayer(
    l: KerasGraphLayer,
    w: Map<string, tf.Tensor>,
    consumers: Map<string, number>,
    temps: Set<tf.Tensor>,
    nodes: Building[],
  ): void {
    const { owner } = this;
    const ins = l.inbound.map((n) => this.resolve(n));
    const c = l.config;
    const add = (node: Building): void => {
      this.index.set(node.name, nodes.length);
      nodes.push(node);
    };
    const channelsOf = (n: string): number => nodes[this.index.get(n) as number].channels;
    // A BatchNormalization or ReLU folds into the conv before it when that conv feeds nothing else.
    const foldable = (): Extract<Building, { kind: 'conv' }> | null => {
      const src = nodes[this.index.get(ins[0]) as number];
      return src?.kind === 'conv' && !src.relu && consumers.get(l.inbound[0]) === 1 ? src : null;
    };
    const padding = (): 'same' | 'valid' => {
      if (c.padding !== 'same' && c.padding !== 'valid')
        throw new Error(`${owner}: '${l.name}' has padding '${c.padding}'`);
      return c.padding;
    };
    if (c.data_format && c.data_format !== 'channels_last')
      throw new Error(`${owner}: '${l.name}' is not channels_last`);
    switch (l.className) {
      case 'InputLayer': {
        const ch = (c.batch_input_shape as unknown[] | undefined)?.[3] ?? 3;
        if (!Number.isInteger(ch))
          throw new Error(`${owner}: input '${l.name}' has ${JSON.stringify(ch)} channels`);
        add({ kind: 'input', name: l.name, channels: ch as number });
        return;
      }
      case 'Conv2D': {
        if (pairOf(c.dilation_rate ?? 1, `${l.name} dilation`, owner).some((d) => d !== 1))
          throw new Error(`${owner}: '${l.name}' is dilated`);
        const [sh, sw] = pairOf(c.strides ?? 1, `${l.name} strides`, owner);
        if (sh !== sw) throw new Error(`${owner}: '${l.name}' has unequal strides`);
        if (c.activation !== 'linear' && c.activation !== 'relu')
          throw new Error(`${owner}: '${l.name}' has activation '${c.activation}'`);
        const kernel = w.get(`${l.name}/kernel`) as tf.Tensor4D;
        if (kernel.rank !== 4) throw new Error(`${owner}: '${l.name}/kernel' is not 4-D`);
        add({
          kind: 'conv',
          name: l.name,
          input: ins[0],
          channels: kernel.shape[3],
          kernelSize: [kernel.shape[0], kernel.shape[1]],
          stride: sh,
          padding: padding(),
          relu: c.activation === 'relu',
          conv: null as unknown as KerasConv,
          kernel,
          bias: c.use_bias ? (w.get(`${l.name}/bias`) as tf.Tensor1D) : null,
        });
        return;
      }
      case 'BatchNormalization': {
        const conv = foldable();
        if (!conv || (c.axis !== 3 && c.axis !== -1))
          throw new Error(
            `${owner}: '${l.name}' does not follow a linear Conv2D it alone consumes (cannot fold it)`,
          );
        // BN(y) = (y - mean) / sqrt(var + eps) * gamma + beta with y = conv(x) + b: scale the kernel's
        // output channels by s = gamma / sqrt(var + eps) and set the bias to (b - mean) * s + beta.
        const eps = Number(c.epsilon ?? 1e-3);
        const get = (n: string): tf.Tensor | undefined => w.get(`${l.name}/${n}`);
        const [kernel, bias] = tf.tidy(() => {
          const s = tf.div(
            get('gamma') ?? tf.ones([conv.channels]),
            tf.sqrt(tf.add(get('moving_variance') as tf.Tensor, eps)),
          );
          const b = tf.add(
            tf.mul(tf.sub(conv.bias ?? tf.zeros([conv.channels]), get('moving_mean') as tf.Tensor), s),
            get('beta') ?? tf.zeros([conv.channels]),
          );
          return [tf.mul(conv.kernel as tf.Tensor, s) as tf.Tensor4D, b as tf.Tensor1D];
        });
        temps.add(kernel).add(bias);
        conv.kernel = kernel;
        conv.bias = bias;
        this.alias.set(l.name, ins[0]);
        return;
      }
      case 'Activation': {
        if (c.activation !== 'relu')
          throw new Error(`${owner}: '${l.name}' has activation '${c.activation}', only relu is supported`);
        const conv = foldable();
        if (conv) {
          conv.relu = true;
          this.alias.set(l.name, ins[0]);
        } else add({ kind: 'relu', name: l.name, input: ins[0], channels: channelsOf(ins[0]) });
        return;
      }
      case 'MaxPooling2D':
      case 'AveragePooling2D':
        add({
          kind: 'pool',
          name: l.name,
          input: ins[0],
          channels: channelsOf(ins[0]),
          op: l.className === 'MaxPooling2D' ? 'max' : 'avg',
          size: pairOf(c.pool_size, `${l.name} pool_size`, owner),
          strides: pairOf(c.strides ?? c.pool_size, `${l.name} strides`, owner),
          padding: padding(),
        });
        return;
      case 'Concatenate':
        if (c.axis !== 3 && c.axis !== -1)
          throw new Error(`${owner}: '${l.name}' concatenates on axis ${c.axis}`);
        add({
          kind: 'concat',
          name: l.name,
          inputs: ins,
          channels: ins.reduce((a, i) => a + channelsOf(i), 0),
        });
        return;
      default:
        throw new Error(`${owner}: layer '${l.name}' of class ${l.className} is not supported`);
    }
  }

  /** The node that computes the Keras layer `name` (itself, or the conv a layer was folded into). */
  resolve(name: string): string {
    return this.alias.get(name) ?? name;
  }

  /** Whether the graph computes the Keras layer `name`. */
  has(name: string): boolean {
    return this.index.has(this.resolve(name));
  }

  /**
   * Output channels of the Keras layer `name`.
   * @throws when the graph does not compute it.
   */
  channels(name: string): number {
    return this.nodes[this.position(name, 'channels')].channels;
  }

  private position(name: string, what: string): number {
    const i = this.index.get(this.resolve(name));
    if (i === undefined) throw new Error(`${this.owner}.${what}: no layer '${name}' in the graph`);
    return i;
  }

  /**
   * Spatial size [h, w] of every node and folded layer for an H x W input (a side < 1 means the input
   * is too small for that layer).
   */
  outputSizes(h: number, w: number): Map<string, [number, number]> {
    const out = new Map<string, [number, number]>();
    const div = (i: number, k: number, s: number, p: 'same' | 'valid'): number =>
      p === 'same' ? Math.ceil(i / s) : Math.floor((i - k) / s) + 1;
    for (const n of this.nodes) {
      let hw: [number, number];
      if (n.kind === 'input') hw = [h, w];
      else if (n.kind === 'conv') {
        const [ih, iw] = out.get(n.input) as [number, number];
        hw = [div(ih, n.kernelSize[0], n.stride, n.padding), div(iw, n.kernelSize[1], n.stride, n.padding)];
      } else if (n.kind === 'pool') {
        const [ih, iw] = out.get(n.input) as [number, number];
        hw = [div(ih, n.size[0], n.strides[0], n.padding), div(iw, n.size[1], n.strides[1], n.padding)];
      } else if (n.kind === 'relu') hw = out.get(n.input) as [number, number];
      else hw = out.get(n.inputs[0]) as [number, number];
      out.set(n.name, hw);
    }
    for (const [a, n] of this.alias) out.set(a, out.get(this.resolve(n)) as [number, number]);
    return out;
  }

  /**
   * Evaluate the graph on `x` up to the Keras layer `until`, computing only what `until` and the taps
   * depend on, inside one `tf.tidy`.
   * @param x - [B, H, W, C] with C the input layer's channels.
   * @param taps - Keras layers whose outputs to return, in this order; default `[until]`. Each must lie
   *   at or before `until`.
   * @returns the tapped activations; the caller owns them.
   * @throws naming the layer, for a tap the graph does not compute up to `until`, or a wrong `x`.
   */
  run(x: tf.Tensor4D, until: string, taps: readonly string[] = [until]): tf.Tensor4D[] {
    const { owner } = this;
    if (this.disposed) throw new Error(`${owner}.run: the graph was disposed`);
    const input = this.nodes.find((n) => n.kind === 'input') as KerasGraphNode;
    if (!(x instanceof tf.Tensor) || x.rank !== 4 || x.shape[3] !== input.channels)
      throw new Error(
        `${owner}.run: x must be [B, H, W, ${input.channels}], got ${x instanceof tf.Tensor ? `[${x.shape}]` : typeof x}`,
      );
    const end = this.position(until, 'run');
    const want = taps.map((t) => {
      const i = this.index.get(this.resolve(t));
      if (i === undefined || i > end) throw new Error(`${owner}.run: no layer '${t}' up to '${until}'`);
      return i;
    });
    const needed = new Set<number>([end, ...want]);
    for (let i = end; i >= 0; i--) {
      if (!needed.has(i)) continue;
      const n = this.nodes[i];
      const ins = n.kind === 'concat' ? n.inputs : n.kind === 'input' ? [] : [n.input];
      for (const m of ins) needed.add(this.index.get(m) as number);
    }
    return tf.tidy(() => {
      const v: tf.Tensor4D[] = [];
      const at = (m: string): tf.Tensor4D => v[this.index.get(m) as number];
      for (let i = 0; i <= end; i++) {
        if (!needed.has(i)) continue;
        const n = this.nodes[i];
        if (n.kind === 'input') v[i] = x;
        else if (n.kind === 'conv') v[i] = n.conv.forward(at(n.input));
        else if (n.kind === 'relu') v[i] = tf.relu(at(n.input));
        else if (n.kind === 'pool')
          v[i] =
            n.op === 'max'
              ? tf.maxPool(at(n.input), n.size, n.strides, n.padding)
              : tf.avgPool(at(n.input), n.size, n.strides, n.padding);
        else v[i] = tf.concat(n.inputs.map(at), 3);
      }
      return want.map((i) => v[i]);
    });
  }

  /** Release the convolutions; `run` throws afterwards. Safe to call twice. */
  dispose(): void {
    this.disposed = true;
    for (const n of this.nodes) if (n.kind === 'conv') n.conv?.dispose();
    (this.nodes as KerasGraphNode[]).length = 0;
    this.index.clear();
  }
}

function pairOf(v: unknown, what: string, owner: string): [number, number] {
  const p = Array.isArray(v) ? v : [v, v];
  if (p.length !== 2 || !p.every((d) => Number.isInteger(d) && d >= 1))
    throw new Error(`${owner}: ${what} is ${JSON.stringify(v)}`);
  return [p[0], p[1]];
}
