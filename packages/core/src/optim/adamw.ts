/**
 * AdamW with decoupled weight decay, step for step as `torch.optim.AdamW` (amsgrad off).
 *
 * Parameters are addressed by name (a module's dotted names), so optimiser state can be saved next to
 * the model's state dict and checked by name and shape on load.
 */
import * as tf from '@tensorflow/tfjs-core';
import { checkNumber } from '../checks.js';
import type { Module } from '../nn/module.js';
import { type AdamWFactors, adamwUpdate } from './adamw-update.js';

/** Which parameters skip weight decay: a set of names or a predicate on (name, variable). */
export type NoDecay = Set<string> | ((name: string, variable: tf.Variable) => boolean);

/** Hyper-parameters shared by {@link AdamWOptions} and {@link AdamW.forModule}. */
export interface AdamWHyperParams {
  /** Learning rate (may be changed later through {@link AdamW.lr} or `step(grads, lr)`). */
  lr: number;
  /** Moment decay rates, each in [0, 1). Default [0.9, 0.999]. */
  betas?: [number, number];
  /** Added to the root of the second moment. Default 1e-8. */
  eps?: number;
  /** Decoupled weight decay of the decay group. Default 0.01. */
  weightDecay?: number;
}

/** Options of the {@link AdamW} constructor. */
export interface AdamWOptions extends AdamWHyperParams {
  /** Named float32 variables to optimise, e.g. `module.namedParameters()`. */
  params: [string, tf.Variable][];
  /** Parameters that get no weight decay (biases, norms, embeddings). Default: none. */
  noDecay?: NoDecay;
}

/** Serialisable hyper-parameters and counters of an {@link AdamW}. */
export interface AdamWStateJson {
  /** Number of `step` calls so far. */
  step: number;
  lr: number;
  betas: [number, number];
  eps: number;
  weightDecay: number;
  /**
   * Per-parameter step counts, as torch keeps them: a parameter without a gradient in some step is
   * not updated and its bias correction does not advance. Omitted means "all equal to `step`".
   */
  paramSteps?: Record<string, number>;
}

/**
 * Optimiser state: first and second moments named `exp_avg.<param>` / `exp_avg_sq.<param>` (in the
 * variables' internal layout, e.g. a Linear weight's moments are [in, out]) plus the JSON part.
 */
export interface AdamWState {
  tensors: Record<string, tf.Tensor>;
  json: AdamWStateJson;
}

interface Slot {
  name: string;
  param: tf.Variable;
  decay: boolean;
  expAvg: tf.Variable;
  expAvgSq: tf.Variable;
  step: number;
}

/**
 * AdamW over named variables with two parameter groups (decay / no decay).
 *
 * One step, per parameter p with gradient g (t = that parameter's step count):
 * p -= lr*wd*p; m = b1*m + (1-b1)*g; v = b2*v + (1-b2)*g^2;
 * p -= lr * (m / (1-b1^t)) / (sqrt(v) / sqrt(1-b2^t) + eps).
 */
export class AdamW {
  private _lr: number;
  private _betas: [number, number];
  private _eps: number;
  private _weightDecay: number;
  private stepCountValue = 0;
  private readonly slots: Slot[];
  private readonly byName = new Map<string, Slot>();
  private disposed = false;

  constructor(opts: AdamWOptions) {
    if (!opts || typeof opts !== 'object') throw new TypeError('AdamW: options object expected');
    const { params } = opts;
    if (!Array.isArray(params) || params.length === 0) {
      throw new TypeError('AdamW: params must be a non-empty array of [name, tf.Variable] pairs');
    }
    const seenNames = new Set<string>();
    const seenVars = new Set<tf.Variable>();
    for (const pair of params) {
      if (!Array.isArray(pair) || typeof pair[0] !== 'string' || !(pair[1] instanceof tf.Variable)) {
        throw new TypeError('AdamW: params must be [name, tf.Variable] pairs');
      }
      const [name, v] = pair;
      if (seenNames.has(name)) throw new Error(`AdamW: params has the name '${name}' twice`);
      if (seenVars.has(v)) throw new Error(`AdamW: params lists the variable of '${name}' twice`);
      if (v.dtype !== 'float32')
        throw new TypeError(`AdamW: param '${name}' has dtype ${v.dtype}, expected float32`);
      seenNames.add(name);
      seenVars.add(v);
    }
    const noDecay = opts.noDecay;
    if (noDecay instanceof Set) {
      const unknown = [...noDecay].filter((n) => !seenNames.has(n));
      if (unknown.length)
        throw new Error(`AdamW: noDecay names unknown params: ${unknown.slice(0, 8).join(', ')}`);
    } else if (noDecay !== undefined && typeof noDecay !== 'function') {
      throw new TypeError('AdamW: noDecay must be a Set of names or a (name, variable) => boolean predicate');
    }
    this._lr = checkNumber(opts.lr, 'AdamW: lr', 'a finite number >= 0');
    this._betas = checkBetas(opts.betas ?? [0.9, 0.999], 'AdamW: betas');
    this._eps = checkNumber(opts.eps ?? 1e-8, 'AdamW: eps', 'a finite number > 0');
    this._weightDecay = checkNumber(opts.weightDecay ?? 0.01, 'AdamW: weightDecay', 'a finite number >= 0');
    this.slots = params.map(([name, param]) => {
      const skip = noDecay instanceof Set ? noDecay.has(name) : noDecay ? noDecay(name, param) : false;
      const slot: Slot = {
        name,
        param,
        decay: !skip,
        // Moments are non-trainable so tf.variableGrads without a var list never differentiates them.
        // Inside tidy so the zerosLike sources are freed (variables survive tidy).
        expAvg: tf.tidy(() => tf.variable(tf.zerosLike(param), false)),
        expAvgSq: tf.tidy(() => tf.variable(tf.zerosLike(param), false)),
        step: 0,
      };
      this.byName.set(name, slot);
      return slot;
    });
  }

  /**
   * AdamW over `module.namedParameters()`: names in `module.decayParameterNames()` (matrices and
   * kernels) take weight decay; biases, norms, positional embeddings and tokens do not.
   */
  static forModule(module: Module, opts: AdamWHyperParams): AdamW {
    const decay = module.decayParameterNames();
    return new AdamW({ ...opts, params: module.namedParameters(), noDecay: (name) => !decay.has(name) });
  }

  /** Current learning rate; setting it validates (finite, >= 0). */
  get lr(): number {
    return this._lr;
  }

  set lr(value: number) {
    this._lr = checkNumber(value, 'AdamW.lr', 'a finite number >= 0');
  }

  /** Moment decay rates [b1, b2]. */
  get betas(): [number, number] {
    return [this._betas[0], this._betas[1]];
  }

  get eps(): number {
    return this._eps;
  }

  get weightDecay(): number {
    return this._weightDecay;
  }

  /** Number of `step` calls so far. */
  get stepCount(): number {
    return this.stepCountValue;
  }

  /** The optimised variables by name, in construction order. */
  namedParameters(): [string, tf.Variable][] {
    return this.slots.map((s) => [s.name, s.param]);
  }

  /** Names of the parameters in the weight-decay group. */
  decayNames(): Set<string> {
    return new Set(this.slots.filter((s) => s.decay).map((s) => s.name));
  }

  /**
   * Apply one update. `grads` maps parameter names to gradients of the parameter's shape (they stay the
   * caller's); parameters without an entry are left untouched, as torch does for `grad is None`.
   * With `lr`, the learning rate is set first (as a schedule would).
   */
  step(grads: Record<string, tf.Tensor>, lr?: number): void {
    this.checkLive();
    if (!grads || typeof grads !== 'object')
      throw new TypeError('AdamW.step: grads must be a {name: tf.Tensor} map');
    const work: [Slot, tf.Tensor][] = [];
    for (const [name, g] of Object.entries(grads)) {
      const slot = this.byName.get(name);
      if (!slot) throw new Error(`AdamW.step: grads has '${name}', which is not an optimised parameter`);
      if (g == null) continue;
      if (!(g instanceof tf.Tensor)) throw new TypeError(`AdamW.step: grads['${name}'] must be a tf.Tensor`);
      if (!tf.util.arraysEqual(g.shape, slot.param.shape)) {
        throw new Error(
          `AdamW.step: grads['${name}'] has shape [${g.shape}], expected [${slot.param.shape}]`,
        );
      }
      if (g.dtype !== 'float32')
        throw new TypeError(`AdamW.step: grads['${name}'] has dtype ${g.dtype}, expected float32`);
      work.push([slot, g]);
    }
    if (lr !== undefined) this.lr = lr;
    this.stepCountValue++;
    const lrNow = this._lr;
    tf.tidy(() => {
      for (const [slot, g] of work) {
        slot.step++;
        const [p, m, v] = adamwUpdate(slot.param, g, slot.expAvg, slot.expAvgSq, {
          ...this.factors(slot.step, lrNow),
          decay: slot.decay && this._weightDecay !== 0 ? 1 - lrNow * this._weightDecay : 1,
        });
        slot.expAvg.assign(m);
        slot.expAvgSq.assign(v);
        slot.param.assign(p);
      }
    });
  }

  /**
   * The factors of a parameter's `step`-th update at learning rate `lr`: the bias corrections are
   * computed in float64 here, and only the final factors go to the device.
   */
  private factors(step: number, lr: number): Omit<AdamWFactors, 'decay'> {
    const [b1, b2] = this._betas;
    return {
      oneMinusB1: 1 - b1,
      b2,
      oneMinusB2: 1 - b2,
      bc2Sqrt: Math.sqrt(1 - b2 ** step),
      eps: this._eps,
      stepSize: lr / (1 - b1 ** step),
    };
  }

  /** Copies of the moments (caller owns them) and the JSON part; see {@link AdamWState}. */
  getState(): AdamWState {
    this.checkLive();
    const tensors: Record<string, tf.Tensor> = {};
    for (const s of this.slots) {
      tensors[`exp_avg.${s.name}`] = s.expAvg.clone();
      tensors[`exp_avg_sq.${s.name}`] = s.expAvgSq.clone();
    }
    const paramSteps: Record<string, number> = {};
    for (const s of this.slots) paramSteps[s.name] = s.step;
    return {
      tensors,
      json: {
        step: this.stepCountValue,
        lr: this._lr,
        betas: this.betas,
        eps: this._eps,
        weightDecay: this._weightDecay,
        paramSteps,
      },
    };
  }

  /**
   * Check that `state` fits this optimiser (exactly the expected tensor names, shapes and dtypes; valid
   * JSON fields) without changing anything. Throws an Error naming the first problem.
   */
  validateState(state: AdamWState): void {
    if (!state || typeof state !== 'object' || !state.tensors || !state.json) {
      throw new TypeError('AdamW.setState: state must be {tensors, json} as returned by getState()');
    }
    const expected = new Map<string, tf.Variable>();
    for (const s of this.slots) {
      expected.set(`exp_avg.${s.name}`, s.param);
      expected.set(`exp_avg_sq.${s.name}`, s.param);
    }
    const missing = [...expected.keys()].filter((k) => !(k in state.tensors));
    const unexpected = Object.keys(state.tensors).filter((k) => !expected.has(k));
    if (missing.length || unexpected.length) {
      throw new Error(
        'AdamW.setState: state tensors do not match the optimiser.' +
          (missing.length ? ` Missing: ${preview(missing)}.` : '') +
          (unexpected.length ? ` Unexpected: ${preview(unexpected)}.` : ''),
      );
    }
    for (const [k, p] of expected) {
      const t = state.tensors[k];
      if (!(t instanceof tf.Tensor)) throw new TypeError(`AdamW.setState: '${k}' must be a tf.Tensor`);
      if (!tf.util.arraysEqual(t.shape, p.shape)) {
        throw new Error(`AdamW.setState: '${k}' has shape [${t.shape}], expected [${p.shape}]`);
      }
      if (t.dtype !== 'float32')
        throw new Error(`AdamW.setState: '${k}' has dtype ${t.dtype}, expected float32`);
    }
    const j = state.json;
    checkNumber(j.step, 'AdamW.setState: json.step', 'an integer >= 0');
    checkNumber(j.lr, 'AdamW.setState: json.lr', 'a finite number >= 0');
    checkBetas(j.betas, 'AdamW.setState: json.betas');
    checkNumber(j.eps, 'AdamW.setState: json.eps', 'a finite number > 0');
    checkNumber(j.weightDecay, 'AdamW.setState: json.weightDecay', 'a finite number >= 0');
    if (j.paramSteps !== undefined) {
      if (!j.paramSteps || typeof j.paramSteps !== 'object') {
        throw new TypeError('AdamW.setState: json.paramSteps must be a {name: count} object');
      }
      for (const s of this.slots)
        checkNumber(j.paramSteps[s.name], `AdamW.setState: json.paramSteps['${s.name}']`, 'an integer >= 0');
      const extra = Object.keys(j.paramSteps).filter((k) => !this.byName.has(k));
      if (extra.length)
        throw new Error(`AdamW.setState: json.paramSteps has unknown params: ${preview(extra)}`);
    }
  }

  /**
   * Restore a state from {@link getState} (hyper-parameters included, as torch's load_state_dict
   * does). Everything is validated before anything is assigned; the state's tensors stay the caller's.
   */
  setState(state: AdamWState): void {
    this.checkLive();
    this.validateState(state);
    const j = state.json;
    for (const s of this.slots) {
      s.expAvg.assign(state.tensors[`exp_avg.${s.name}`]);
      s.expAvgSq.assign(state.tensors[`exp_avg_sq.${s.name}`]);
      s.step = j.paramSteps ? j.paramSteps[s.name] : j.step;
    }
    this.stepCountValue = j.step;
    this._lr = j.lr;
    this._betas = [j.betas[0], j.betas[1]];
    this._eps = j.eps;
    this._weightDecay = j.weightDecay;
  }

  /** Release the moment tensors (not the parameters). The optimiser is unusable afterwards. */
  dispose(): void {
    if (this.disposed) return;
    for (const s of this.slots) {
      s.expAvg.dispose();
      s.expAvgSq.dispose();
    }
    this.disposed = true;
  }

  private checkLive(): void {
    if (this.disposed) throw new Error('AdamW: the optimiser has been disposed');
  }
}

function checkBetas(v: unknown, where: string): [number, number] {
  if (
    !Array.isArray(v) ||
    v.length !== 2 ||
    v.some((b) => typeof b !== 'number' || !Number.isFinite(b) || b < 0 || b >= 1)
  ) {
    throw new RangeError(`${where} must be two numbers in [0, 1), got ${JSON.stringify(v)}`);
  }
  return [v[0], v[1]];
}

function preview(keys: string[]): string {
  return keys.length > 8 ? `${keys.slice(0, 8).join(', ')}, ... (${keys.length} in all)` : keys.join(', ');
}
