/**
 * `Module`: a tree of named `tf.Variable`s with PyTorch-style dotted names.
 *
 * Parameters may be stored in whatever layout is fastest for tfjs (a Linear weight as [in, out], a
 * conv kernel as [kh, kw, in, out]); each declares a {@link ParamLayout} so that `stateDict()` and
 * `loadStateDict()` always speak PyTorch's layout ([out, in] and [out, in, kh, kw]) and reference
 * checkpoints map by name.
 */
import { fromTorchLayout, type ParamLayout, torchShape, toTorchLayout } from '@ldmae/io';
import * as tf from '@tensorflow/tfjs-core';

interface Entry {
  tensor: tf.Variable | tf.Tensor;
  layout: ParamLayout;
  trainable: boolean;
  /** Buffers that are recomputed (not saved) set this false. */
  persistent: boolean;
  /** Whether the optimiser should apply weight decay (false for biases, norms, pos-embeds, tokens). */
  decay: boolean;
}

/** Options of {@link Module.registerParameter}. */
export interface ParamOptions {
  layout?: ParamLayout;
  /** Apply weight decay in AdamW parameter groups. Default: true for tensors of rank >= 2. */
  decay?: boolean;
  trainable?: boolean;
}

/** Result of {@link Module.loadStateDict}. */
export interface LoadResult {
  missing: string[];
  unexpected: string[];
}

/** Base class of every model and layer. Subclasses register parameters, buffers and children. */
export class Module {
  private readonly entries = new Map<string, Entry>();
  private readonly childModules = new Map<string, Module>();
  /** True in training mode (dropout, masking, label dropout on). */
  training = true;

  /** Register a trainable parameter; takes ownership of `init`. */
  protected registerParameter(name: string, init: tf.Tensor, opts: ParamOptions = {}): tf.Variable {
    this.checkFreeName(name);
    const trainable = opts.trainable ?? true;
    const v = tf.variable(init, trainable);
    init.dispose();
    this.entries.set(name, {
      tensor: v,
      layout: opts.layout ?? 'same',
      trainable,
      persistent: true,
      decay: opts.decay ?? v.rank >= 2,
    });
    return v;
  }

  /**
   * Register a non-trainable tensor (a fixed positional embedding, a running statistic).
   * `persistent: false` keeps it out of the state dict.
   */
  protected registerBuffer(name: string, t: tf.Tensor, opts: { persistent?: boolean } = {}): tf.Tensor {
    this.checkFreeName(name);
    const kept = tf.keep(t);
    this.entries.set(name, {
      tensor: kept,
      layout: 'same',
      trainable: false,
      persistent: opts.persistent ?? true,
      decay: false,
    });
    return kept;
  }

  /** Register a child module under `name`; its parameters appear as `name.param`. */
  protected registerModule<M extends Module>(name: string, m: M): M {
    this.checkFreeName(name);
    this.childModules.set(name, m);
    return m;
  }

  private checkFreeName(name: string): void {
    if (!name || name.includes('.')) throw new Error(`Module: invalid name '${name}' (non-empty, no dots)`);
    if (this.entries.has(name) || this.childModules.has(name))
      throw new Error(`Module: name '${name}' registered twice`);
  }

  /** Direct children, by name. */
  children(): [string, Module][] {
    return [...this.childModules.entries()];
  }

  /** Every module in the tree (this one first), with dotted names. */
  namedModules(prefix = ''): [string, Module][] {
    const out: [string, Module][] = [[prefix, this]];
    for (const [n, c] of this.childModules) out.push(...c.namedModules(prefix ? `${prefix}.${n}` : n));
    return out;
  }

  private namedEntries(prefix = ''): [string, Entry][] {
    const out: [string, Entry][] = [];
    for (const [n, e] of this.entries) out.push([prefix ? `${prefix}.${n}` : n, e]);
    for (const [n, c] of this.childModules) out.push(...c.namedEntries(prefix ? `${prefix}.${n}` : n));
    return out;
  }

  /** Trainable variables with dotted names, in registration order. */
  namedParameters(): [string, tf.Variable][] {
    return this.namedEntries()
      .filter(([, e]) => e.trainable)
      .map(([n, e]) => [n, e.tensor as tf.Variable]);
  }

  /** Trainable variables. */
  parameters(): tf.Variable[] {
    return this.namedParameters().map(([, v]) => v);
  }

  /** Names of trainable parameters that take weight decay (matrices and kernels, not biases/norms/embeddings). */
  decayParameterNames(): Set<string> {
    return new Set(
      this.namedEntries()
        .filter(([, e]) => e.trainable && e.decay)
        .map(([n]) => n),
    );
  }

  /** Number of scalars in trainable parameters (and, with `includeBuffers`, in persistent buffers). */
  numParameters(includeBuffers = false): number {
    return this.namedEntries()
      .filter(([, e]) => e.trainable || (includeBuffers && e.persistent))
      .reduce((a, [, e]) => a + e.tensor.size, 0);
  }

  /** Switch training mode for the whole tree. */
  train(mode = true): this {
    for (const [, m] of this.namedModules()) m.training = mode;
    return this;
  }

  /** Evaluation mode for the whole tree. */
  eval(): this {
    return this.train(false);
  }

  /** PyTorch-layout copies of every parameter and persistent buffer; the caller owns the tensors. */
  stateDict(): Record<string, tf.Tensor> {
    const out: Record<string, tf.Tensor> = {};
    for (const [n, e] of this.namedEntries()) if (e.persistent) out[n] = toTorchLayout(e.tensor, e.layout);
    return out;
  }

  /** Names and PyTorch-layout shapes of what {@link stateDict} would return, without copying. */
  stateDictShapes(): Record<string, number[]> {
    const out: Record<string, number[]> = {};
    for (const [n, e] of this.namedEntries()) if (e.persistent) out[n] = torchShape(e.tensor.shape, e.layout);
    return out;
  }

  /**
   * Load PyTorch-layout tensors by dotted name. Every shape and dtype is checked before any weight is
   * assigned, so a bad dict never half-loads the model. With `strict` (the default) missing or
   * unexpected keys are an error; otherwise they are returned. The dict's tensors stay the caller's.
   */
  loadStateDict(dict: Record<string, tf.Tensor>, opts: { strict?: boolean } = {}): LoadResult {
    const strict = opts.strict ?? true;
    const own = new Map(this.namedEntries().filter(([, e]) => e.persistent));
    const missing = [...own.keys()].filter((k) => !Object.hasOwn(dict, k));
    const unexpected = Object.keys(dict).filter((k) => !own.has(k));
    if (strict && (missing.length || unexpected.length)) {
      throw new Error(
        `loadStateDict: state dict does not match the model (strict).` +
          (missing.length ? ` Missing: ${preview(missing)}.` : '') +
          (unexpected.length ? ` Unexpected: ${preview(unexpected)}.` : ''),
      );
    }
    for (const [k, e] of own) {
      const t = Object.hasOwn(dict, k) ? dict[k] : undefined;
      if (!t) continue;
      const want = torchShape(e.tensor.shape, e.layout);
      if (!tf.util.arraysEqual(t.shape, want)) {
        throw new Error(`loadStateDict: '${k}' has shape [${t.shape}], expected [${want}] (PyTorch layout)`);
      }
      if (t.dtype !== e.tensor.dtype) {
        throw new Error(`loadStateDict: '${k}' has dtype ${t.dtype}, expected ${e.tensor.dtype}`);
      }
    }
    for (const [k, e] of own) {
      const t = Object.hasOwn(dict, k) ? dict[k] : undefined;
      if (!t) continue;
      const v = tf.tidy(() => fromTorchLayout(t, e.layout));
      if (e.tensor instanceof tf.Variable) {
        e.tensor.assign(v);
        v.dispose();
      } else {
        e.tensor.dispose();
        e.tensor = tf.keep(v);
      }
    }
    return { missing, unexpected };
  }

  /** Release every tensor of the tree. The module is unusable afterwards. */
  dispose(): void {
    for (const [, e] of this.entries) e.tensor.dispose();
    this.entries.clear();
    for (const [, c] of this.childModules) c.dispose();
    this.childModules.clear();
  }

  /** Internal: replace a buffer's value (e.g. resizing a positional embedding). Disposes the old one. */
  protected setBuffer(name: string, t: tf.Tensor): void {
    const e = this.entries.get(name);
    if (!e || e.trainable) throw new Error(`Module.setBuffer: no buffer '${name}'`);
    e.tensor.dispose();
    e.tensor = tf.keep(t);
  }

  /** Internal: the current value of an own buffer or parameter by local name. */
  protected getTensor(name: string): tf.Tensor {
    const e = this.entries.get(name);
    if (!e) throw new Error(`Module: no tensor '${name}'`);
    return e.tensor;
  }
}

/** A list of modules named '0', '1', ... like torch.nn.ModuleList. */
export class ModuleList<M extends Module = Module> extends Module implements Iterable<M> {
  private readonly items: M[] = [];

  constructor(items: M[] = []) {
    super();
    for (const m of items) this.push(m);
  }

  push(m: M): void {
    this.registerModule(String(this.items.length), m);
    this.items.push(m);
  }

  get length(): number {
    return this.items.length;
  }

  at(i: number): M {
    const m = this.items[i];
    if (!m) throw new RangeError(`ModuleList.at: index ${i} out of range [0, ${this.items.length})`);
    return m;
  }

  [Symbol.iterator](): Iterator<M> {
    return this.items[Symbol.iterator]();
  }
}

function preview(keys: string[]): string {
  return keys.length > 8 ? `${keys.slice(0, 8).join(', ')}, ... (${keys.length} in all)` : keys.join(', ');
}
