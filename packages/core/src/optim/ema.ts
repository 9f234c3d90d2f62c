/**
 * Exponential moving average of a module's parameters (DiT's `update_ema`, timm's ModelEma).
 *
 * Shadows are kept in the module's internal layout, one per trainable parameter. For PyTorch-layout
 * export and import the EMA briefly swaps its shadows into the module's variables and uses the
 * module's own `stateDict()` / `loadStateDict()`: the module alone knows each parameter's layout, and
 * tfjs `Variable.assign` only re-points data (no copy), so the swap is cheap. The swap is synchronous
 * and always restored, so no other code can observe it.
 */
import * as tf from '@tensorflow/tfjs-core';
import { checkNumber } from '../checks.js';
import type { Module } from '../nn/module.js';

/** Options of {@link EMA}. */
export interface EMAOptions {
  /** Weight of the old average in each update, in [0, 1]. Default 0.9999. */
  decay?: number;
  /**
   * Warm the decay up: update n (0-based) uses min(decay, (1 + n) / (10 + n)), so a short run's
   * average follows the weights instead of staying near their initial values. Default false (the
   * fixed decay of DiT / LightningDiT's `update_ema`).
   */
  warmup?: boolean;
}

/** Serialisable scalars of an {@link EMA}. */
export interface EMAStateJson {
  decay: number;
  /** Number of `update` calls so far. */
  updates: number;
  /** Whether the decay warms up (absent: false). */
  warmup?: boolean;
}

/**
 * EMA of `module`'s trainable parameters, initialised to a copy of their current values.
 * `update()` does `ema = decay * ema + (1 - decay) * p` for every parameter.
 */
export class EMA {
  readonly module: Module;
  private _decay: number;
  private _warmup: boolean;
  private _updates = 0;
  private readonly shadows = new Map<string, tf.Variable>();
  /** Live weights put aside by {@link store}, until {@link restore}. */
  private stored: tf.Tensor[] | null = null;
  private disposed = false;

  constructor(module: Module, opts: EMAOptions = {}) {
    if (!module || typeof module.namedParameters !== 'function')
      throw new TypeError('EMA: module must be a Module');
    this._decay = checkDecay(opts.decay ?? 0.9999, 'EMA: decay');
    if (opts.warmup !== undefined && typeof opts.warmup !== 'boolean')
      throw new TypeError(`EMA: warmup must be a boolean, got ${typeof opts.warmup}`);
    this._warmup = opts.warmup ?? false;
    const params = module.namedParameters();
    if (params.length === 0) throw new Error('EMA: module has no trainable parameters');
    this.module = module;
    // Non-trainable, so tf.variableGrads without a var list never differentiates the shadows.
    for (const [name, p] of params) {
      const copy = p.clone();
      this.shadows.set(name, tf.variable(copy, false));
      copy.dispose(); // the variable keeps the data
    }
  }

  /** Weight of the old average (settable, in [0, 1]). */
  get decay(): number {
    return this._decay;
  }

  set decay(value: number) {
    this._decay = checkDecay(value, 'EMA.decay');
  }

  /** Number of updates so far. */
  get updates(): number {
    return this._updates;
  }

  /** Whether the decay warms up (see {@link EMAOptions.warmup}). */
  get warmup(): boolean {
    return this._warmup;
  }

  /** The decay the next update uses: {@link decay}, or its warmed-up value. */
  get currentDecay(): number {
    const n = this._updates;
    return this._warmup ? Math.min(this._decay, (1 + n) / (10 + n)) : this._decay;
  }

  /**
   * About how many updates the average spans, 1 / (1 - decay): an average that has seen fewer updates
   * still leans on the initial weights (unless it warms up).
   */
  get timeConstant(): number {
    return this._decay >= 1 ? Number.POSITIVE_INFINITY : 1 / (1 - this._decay);
  }

  /** The shadow variables by parameter name (internal layout; owned by the EMA). */
  namedShadows(): [string, tf.Variable][] {
    return [...this.shadows.entries()];
  }

  /** One EMA step from `module`'s current parameters (default: the module given at construction). */
  update(module: Module = this.module): void {
    this.checkLive();
    const params = this.matchParams(module);
    const d = this.currentDecay;
    tf.tidy(() => {
      const sd = tf.scalar(d);
      const s1 = tf.scalar(1 - d);
      for (const [name, p] of params) {
        const s = this.shadows.get(name)!;
        s.assign(tf.add(tf.mul(s, sd), tf.mul(p, s1)));
      }
    });
    this._updates++;
  }

  /** Write the averaged values into `module`'s parameters (default: the module given at construction). */
  copyTo(module: Module = this.module): void {
    this.checkLive();
    for (const [name, p] of this.matchParams(module)) p.assign(this.shadows.get(name)!);
  }

  /**
   * Run `fn` with the averaged weights in `module`, then put the live weights back (even if `fn`
   * throws or rejects). `fn` may be async (sampling is): the live weights come back once its promise
   * settles, so nothing else may train `module` meanwhile. For evaluation or sampling with the EMA
   * model without a second copy of the network.
   */
  withWeights<T>(fn: () => T, module: Module = this.module): T {
    this.checkLive();
    const params = this.matchParams(module);
    const saved = params.map(([, p]) => p.clone());
    let out: T;
    try {
      for (const [name, p] of params) p.assign(this.shadows.get(name)!);
      out = fn();
    } catch (e) {
      restore(params, saved);
      throw e;
    }
    if (out instanceof Promise) {
      return out.finally(() => restore(params, saved)) as T;
    }
    restore(params, saved);
    return out;
  }

  /**
   * Put `module`'s live weights aside (diffusers' `EMAModel.store`), e.g. before {@link copyTo} for an
   * evaluation; {@link restore} brings them back. One store at a time.
   */
  store(module: Module = this.module): void {
    this.checkLive();
    if (this.stored) throw new Error('EMA.store: weights are stored already; restore() them first');
    this.stored = this.matchParams(module).map(([, p]) => p.clone());
  }

  /** Put the weights {@link store} set aside back into `module`. */
  restore(module: Module = this.module): void {
    this.checkLive();
    if (!this.stored) throw new Error('EMA.restore: nothing is stored; call store() first');
    const saved = this.stored;
    this.stored = null;
    restore(this.matchParams(module), saved);
  }

  /**
   * The EMA model's state dict: PyTorch names and layouts, averaged parameters plus the module's
   * current persistent buffers (as DiT's EMA copy has them). The caller owns the tensors.
   */
  stateDict(): Record<string, tf.Tensor> {
    return this.withWeights(() => this.module.stateDict());
  }

  /**
   * Check a PyTorch-layout dict for {@link loadStateDict} without changing anything: it must hold every
   * trainable parameter with the module's PyTorch shape, and no name the module does not know.
   */
  validateStateDict(dict: Record<string, tf.Tensor>): void {
    this.checkLive();
    if (!dict || typeof dict !== 'object')
      throw new TypeError('EMA.loadStateDict: dict must be a {name: tf.Tensor} map');
    const shapes = this.module.stateDictShapes();
    const missing = [...this.shadows.keys()].filter((k) => !(k in dict));
    const unexpected = Object.keys(dict).filter((k) => !(k in shapes));
    if (missing.length || unexpected.length) {
      throw new Error(
        'EMA.loadStateDict: dict does not match the module.' +
          (missing.length ? ` Missing: ${preview(missing)}.` : '') +
          (unexpected.length ? ` Unexpected: ${preview(unexpected)}.` : ''),
      );
    }
    for (const [k, t] of Object.entries(dict)) {
      if (!(t instanceof tf.Tensor)) throw new TypeError(`EMA.loadStateDict: '${k}' must be a tf.Tensor`);
      if (!tf.util.arraysEqual(t.shape, shapes[k])) {
        throw new Error(
          `EMA.loadStateDict: '${k}' has shape [${t.shape}], expected [${shapes[k]}] (PyTorch layout)`,
        );
      }
      const shadow = this.shadows.get(k);
      if (shadow && t.dtype !== shadow.dtype) {
        throw new Error(`EMA.loadStateDict: '${k}' has dtype ${t.dtype}, expected ${shadow.dtype}`);
      }
    }
  }

  /**
   * Set the averages from a PyTorch-layout dict as {@link stateDict} returns it (buffers in it are
   * checked, then ignored). Everything is validated first; the module's weights are left as they were.
   */
  loadStateDict(dict: Record<string, tf.Tensor>): void {
    this.validateStateDict(dict);
    const params = this.matchParams(this.module);
    const only: Record<string, tf.Tensor> = {};
    for (const [name] of params) only[name] = dict[name];
    const saved = params.map(([, p]) => p.clone());
    try {
      // The module converts from PyTorch layout; the shadows then take the converted values.
      this.module.loadStateDict(only, { strict: false });
      for (const [name, p] of params) this.shadows.get(name)!.assign(p);
    } finally {
      restore(params, saved);
    }
  }

  /** The scalars to save beside {@link stateDict}. */
  getStateJson(): EMAStateJson {
    return { decay: this._decay, updates: this._updates, ...(this._warmup ? { warmup: true } : {}) };
  }

  /** Restore {@link getStateJson} output (validated). */
  setStateJson(json: EMAStateJson): void {
    checkEmaStateJson(json);
    this._decay = json.decay;
    this._updates = json.updates;
    this._warmup = json.warmup ?? false;
  }

  /** Release the shadows. The EMA is unusable afterwards; the module is untouched. */
  dispose(): void {
    if (this.disposed) return;
    for (const s of this.shadows.values()) s.dispose();
    this.shadows.clear();
    if (this.stored) tf.dispose(this.stored);
    this.stored = null;
    this.disposed = true;
  }

  private matchParams(module: Module): [string, tf.Variable][] {
    if (!module || typeof module.namedParameters !== 'function')
      throw new TypeError('EMA: module must be a Module');
    const params = module.namedParameters();
    if (params.length !== this.shadows.size) {
      throw new Error(
        `EMA: module has ${params.length} trainable parameters, the EMA tracks ${this.shadows.size}`,
      );
    }
    for (const [name, p] of params) {
      const s = this.shadows.get(name);
      if (!s) throw new Error(`EMA: module parameter '${name}' is not tracked by the EMA`);
      if (!tf.util.arraysEqual(s.shape, p.shape)) {
        throw new Error(`EMA: parameter '${name}' has shape [${p.shape}], the EMA has [${s.shape}]`);
      }
    }
    return params;
  }

  private checkLive(): void {
    if (this.disposed) throw new Error('EMA: the EMA has been disposed');
  }
}

function restore(params: [string, tf.Variable][], saved: tf.Tensor[]): void {
  for (let i = 0; i < params.length; i++) params[i][1].assign(saved[i]);
  tf.dispose(saved);
}

/** Validate an {@link EMAStateJson}; throws naming the bad field. */
export function checkEmaStateJson(json: EMAStateJson): void {
  if (!json || typeof json !== 'object') throw new TypeError('EMA.setStateJson: {decay, updates} expected');
  checkDecay(json.decay, 'EMA.setStateJson: decay');
  checkNumber(json.updates, 'EMA.setStateJson: updates', 'an integer >= 0');
  if (json.warmup !== undefined && typeof json.warmup !== 'boolean')
    throw new TypeError(`EMA.setStateJson: warmup must be a boolean, got ${typeof json.warmup}`);
}

function checkDecay(v: unknown, where: string): number {
  if (typeof v !== 'number' || !Number.isFinite(v) || v < 0 || v > 1) {
    throw new RangeError(`${where} must be a number in [0, 1], got ${v}`);
  }
  return v;
}

function preview(keys: string[]): string {
  return keys.length > 8 ? `${keys.slice(0, 8).join(', ')}, ... (${keys.length} in all)` : keys.join(', ');
}
