/**
 * The in-memory contract between the training loop and checkpoint files: named tensors plus string
 * metadata (exactly what a safetensors file holds). Writing files is the caller's business (io/).
 *
 * Tensor names: `model.<name>` (the model's state dict, PyTorch layout), `optimizer.exp_avg.<param>` /
 * `optimizer.exp_avg_sq.<param>` (AdamW moments, internal layout), `ema.<name>` (the EMA model's state
 * dict, PyTorch layout). Metadata: `format`, `format_version`, `step`, and JSON strings `rng`,
 * `config`, `optimizer`, `ema`.
 */
import type { CheckpointPayload } from '@ldmae/io';
import * as tf from '@tensorflow/tfjs-core';
import { checkNumber } from '../checks.js';
import type { Module } from '../nn/module.js';
import type { AdamW, AdamWState, AdamWStateJson } from '../optim/adamw.js';
import { checkEmaStateJson, type EMA, type EMAStateJson } from '../optim/ema.js';
import { Rng, type RngState } from '../rng.js';

export type { CheckpointPayload };

/** Value of the `format` metadata key. */
export const CHECKPOINT_FORMAT = 'ldmae-checkpoint';
/** Value of the `format_version` metadata key written by this version. */
export const CHECKPOINT_FORMAT_VERSION = 1;

/** Options of {@link makeCheckpointPayload}. */
export interface MakeCheckpointOptions {
  model: Module;
  optimizer?: AdamW;
  ema?: EMA;
  /** Optimiser steps completed; a resumed run continues with this 0-based step. */
  step: number;
  /** Generator whose state is saved, so a resumed run draws the same numbers. */
  rng?: Rng;
  /** Anything JSON-serialisable that describes the run (model preset, hyper-parameters). */
  config?: unknown;
}

/** Snapshot the training state. The payload's tensors are new copies; the caller owns them. */
export function makeCheckpointPayload(opts: MakeCheckpointOptions): CheckpointPayload {
  if (!opts || typeof opts !== 'object')
    throw new TypeError('makeCheckpointPayload: options object expected');
  const { model, optimizer, ema, step, rng, config } = opts;
  if (!model || typeof model.stateDict !== 'function')
    throw new TypeError('makeCheckpointPayload: model must be a Module');
  checkNumber(step, 'makeCheckpointPayload: step', 'an integer >= 0');
  const metadata: Record<string, string> = {
    format: CHECKPOINT_FORMAT,
    format_version: String(CHECKPOINT_FORMAT_VERSION),
    step: String(step),
  };
  if (config !== undefined) {
    const s = JSON.stringify(config);
    if (s === undefined) throw new TypeError('makeCheckpointPayload: config must be JSON-serialisable');
    metadata.config = s;
  }
  if (rng) metadata.rng = JSON.stringify(rng.getState());
  const tensors: Record<string, tf.Tensor> = {};
  const add = (prefix: string, dict: Record<string, tf.Tensor>) => {
    for (const [k, t] of Object.entries(dict)) tensors[`${prefix}${k}`] = t;
  };
  try {
    add('model.', model.stateDict());
    if (optimizer) {
      const st = optimizer.getState();
      add('optimizer.', st.tensors);
      metadata.optimizer = JSON.stringify(st.json);
    }
    if (ema) {
      add('ema.', ema.stateDict());
      metadata.ema = JSON.stringify(ema.getStateJson());
    }
  } catch (e) {
    tf.dispose(Object.values(tensors));
    throw e;
  }
  return { tensors, metadata };
}

/** Release every tensor of a payload. */
export function disposeCheckpointPayload(payload: CheckpointPayload): void {
  tf.dispose(Object.values(payload.tensors));
}

/** Options of {@link restoreCheckpointPayload}: the objects to restore (each optional but the model). */
export interface RestoreCheckpointOptions {
  model: Module;
  optimizer?: AdamW;
  ema?: EMA;
  rng?: Rng;
}

/** Result of {@link restoreCheckpointPayload}. */
export interface RestoredCheckpoint {
  /** Optimiser steps completed when the checkpoint was made. */
  step: number;
  /** The run's config as saved (parsed JSON), if any. */
  config?: unknown;
}

/**
 * Restore a model (and optimiser, EMA, generator when given) from a payload. Everything is checked
 * first (format, names, shapes, JSON fields; each given object must have its part in the payload), so
 * a bad payload changes nothing. Parts the caller does not ask for are ignored. The payload's tensors
 * stay the caller's.
 */
export function restoreCheckpointPayload(
  payload: CheckpointPayload,
  opts: RestoreCheckpointOptions,
): RestoredCheckpoint {
  if (!payload || typeof payload !== 'object' || !payload.tensors || !payload.metadata) {
    throw new TypeError(`restoreCheckpointPayload: payload must be {tensors, metadata}`);
  }
  if (!opts?.model || typeof opts.model.loadStateDict !== 'function')
    throw new TypeError(`restoreCheckpointPayload: opts.model must be a Module`);
  const { model, optimizer, ema, rng } = opts;
  const meta = payload.metadata;
  if (meta.format !== CHECKPOINT_FORMAT) {
    throw new Error(
      `restoreCheckpointPayload: metadata.format is ${JSON.stringify(meta.format)}, expected '${CHECKPOINT_FORMAT}'`,
    );
  }
  const version = Number(meta.format_version);
  if (!Number.isInteger(version) || version < 1 || version > CHECKPOINT_FORMAT_VERSION) {
    throw new Error(
      `restoreCheckpointPayload: metadata.format_version is ${JSON.stringify(meta.format_version)}, this version reads 1..${CHECKPOINT_FORMAT_VERSION}`,
    );
  }
  const step = Number(meta.step);
  if (meta.step === undefined || !Number.isInteger(step) || step < 0) {
    throw new Error(
      `restoreCheckpointPayload: metadata.step must be an integer >= 0, got ${JSON.stringify(meta.step)}`,
    );
  }
  const config = meta.config !== undefined ? parseJson(meta.config, 'config') : undefined;

  const parts: Record<'model' | 'optimizer' | 'ema', Record<string, tf.Tensor>> = {
    model: {},
    optimizer: {},
    ema: {},
  };
  for (const [k, t] of Object.entries(payload.tensors)) {
    const dot = k.indexOf('.');
    const prefix = k.slice(0, dot);
    if (dot <= 0 || !(prefix in parts)) {
      throw new Error(
        `restoreCheckpointPayload: tensor '${k}' has no known prefix (model., optimizer., ema.)`,
      );
    }
    if (!(t instanceof tf.Tensor))
      throw new TypeError(`restoreCheckpointPayload: tensors['${k}'] must be a tf.Tensor`);
    parts[prefix as keyof typeof parts][k.slice(dot + 1)] = t;
  }

  checkModelPart(model, parts.model);
  let optState: AdamWState | undefined;
  if (optimizer) {
    if (meta.optimizer === undefined)
      throw new Error(
        `restoreCheckpointPayload: an optimizer was given but the payload has no optimizer state`,
      );
    optState = { tensors: parts.optimizer, json: parseJson(meta.optimizer, 'optimizer') as AdamWStateJson };
    optimizer.validateState(optState);
  }
  let emaJson: EMAStateJson | undefined;
  if (ema) {
    if (meta.ema === undefined)
      throw new Error(`restoreCheckpointPayload: an ema was given but the payload has no EMA state`);
    emaJson = parseJson(meta.ema, 'ema') as EMAStateJson;
    checkEmaStateJson(emaJson);
    ema.validateStateDict(parts.ema);
  }
  let rngState: RngState | undefined;
  if (rng) {
    if (meta.rng === undefined)
      throw new Error(`restoreCheckpointPayload: an rng was given but the payload has no rng state`);
    rngState = parseJson(meta.rng, 'rng') as RngState;
    new Rng(0).setState(rngState); // validates without touching the caller's generator
  }

  // The model goes first: its own load re-checks dtypes before assigning, and nothing else is changed yet.
  model.loadStateDict(parts.model);
  if (optimizer && optState) optimizer.setState(optState);
  if (ema && emaJson) {
    ema.loadStateDict(parts.ema);
    ema.setStateJson(emaJson);
  }
  if (rng && rngState) rng.setState(rngState);
  return config === undefined ? { step } : { step, config };
}

function checkModelPart(model: Module, dict: Record<string, tf.Tensor>): void {
  const shapes = model.stateDictShapes();
  const missing = Object.keys(shapes).filter((k) => !Object.hasOwn(dict, k));
  const unexpected = Object.keys(dict).filter((k) => !(k in shapes));
  if (missing.length || unexpected.length) {
    throw new Error(
      'restoreCheckpointPayload: model tensors do not match the model.' +
        (missing.length ? ` Missing: ${preview(missing.map((k) => `model.${k}`))}.` : '') +
        (unexpected.length ? ` Unexpected: ${preview(unexpected.map((k) => `model.${k}`))}.` : ''),
    );
  }
  for (const [k, want] of Object.entries(shapes)) {
    if (!tf.util.arraysEqual(dict[k].shape, want)) {
      throw new Error(
        `restoreCheckpointPayload: 'model.${k}' has shape [${dict[k].shape}], expected [${want}]`,
      );
    }
  }
}

function parseJson(s: string, key: string): unknown {
  try {
    return JSON.parse(s);
  } catch (e) {
    throw new Error(`restoreCheckpointPayload: metadata.${key} is not valid JSON (${(e as Error).message})`);
  }
}

function preview(keys: string[]): string {
  return keys.length > 8 ? `${keys.slice(0, 8).join(', ')}, ... (${keys.length} in all)` : keys.join(', ');
}
