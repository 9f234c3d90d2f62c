/**
 * The training loop every model shares: learning-rate schedule, gradients of a scalar loss over the
 * model's trainable parameters, optional clipping, AdamW, optional EMA, checkpoints, JSONL logs and
 * typed progress events. Tensor memory is flat across steps.
 */
import * as tf from '@tensorflow/tfjs-core';
import { checkNumber } from '../checks.js';
import { type BatchLoader, isBatchLoader } from '../data-source.js';
import type { Module } from '../nn/module.js';
import { AdamW, type AdamWOptions } from '../optim/adamw.js';
import { clipByGlobalNormAsync } from '../optim/clip.js';
import type { EMA } from '../optim/ema.js';
import type { LrSchedule } from '../optim/schedule.js';
import type { Rng } from '../rng.js';
import {
  type CheckpointPayload,
  disposeCheckpointPayload,
  makeCheckpointPayload,
  restoreCheckpointPayload,
} from './checkpoint-payload.js';
import { EtaMeter, type TrainProgressEvent } from './progress.js';
import { PROGRESS_METADATA_KEY, RunProgress } from './time-budget.js';

/** What a loss function returns: the scalar loss, or the loss plus scalars to log. */
export type LossOutput = tf.Scalar | { loss: tf.Scalar; logs?: Record<string, tf.Scalar | number> };

/**
 * A synchronous loss: `(batch, step) -> scalar`, where `step` is the 0-based step index. It runs inside
 * `tf.variableGrads`, so intermediate tensors are released automatically.
 */
export type LossFn<B> = (batch: B, step: number) => LossOutput;

/**
 * Where batches come from:
 * - a {@link BatchLoader} (an object with `next()` and `seek()`, such as @ldmae/data's `DataLoader` or
 *   `LatentLoader`): one `next()` per step, across epochs; a resumed run `seek`s it to its step first;
 * - an (async) iterable (a generator): read once; when it ends the run stops with 'data-exhausted';
 * - a function of the 0-based step (best for an exact resume).
 *
 * A loader or function returning `null` or `undefined` ends the data too ('data-exhausted').
 * Image trainers (`trainVMAE`, `trainBaseline`) take the wider `ImageBatchSource`.
 */
export type BatchSource<B> =
  | BatchLoader<B>
  | AsyncIterable<B>
  | Iterable<B>
  | ((step: number) => B | null | undefined | Promise<B | null | undefined>);

/**
 * A source opened at the step the run starts from (0, or a resumed checkpoint's step): for sources
 * that must skip what earlier steps read, such as core's `readImageBatches` with `startStep`.
 */
export interface OpenAtStep<B> {
  open(startStep: number): BatchSource<B>;
}

/** Checkpointing of {@link train}. */
export interface TrainCheckpointOptions {
  /** Save after every `every` completed steps. */
  every: number;
  /**
   * Persist a payload. The loop disposes the payload's tensors once the promise resolves, so copy
   * what must outlive it.
   */
  save: (payload: CheckpointPayload) => Promise<void>;
  /**
   * Also save when the loop ends (last step, abort, data exhausted), if this call ran any step and
   * that step is not saved yet. Default true.
   */
  onStop?: boolean;
}

/**
 * The options every trainer shares (`train`, `trainVMAE`, `trainBaseline`, `DiffusionTrainer.train`):
 * length, schedule, clipping, checkpoints, resume, logs, progress and stopping.
 */
export interface TrainRunOptions {
  /** Total optimiser steps of the run (a resumed run continues up to it). */
  steps: number;
  /**
   * Wall-clock budget of the whole run in seconds (PyTorch Lightning's `max_time`, with the schedule
   * following it). The run's progress is then the larger of `step / steps` and the share of the budget
   * used; the schedule is read at the step that progress has reached, so warm-up and decay keep their
   * shape whichever runs out first, and the run stops once the budget is used (stopReason
   * 'time-limit'). `steps` stays the most steps it may take. Checkpoints record the progress, and a
   * resumed run starts from it with the rest of the budget: `(1 - progress) * maxSeconds`.
   */
  maxSeconds?: number;
  /** Learning rate per 0-based step; without it the optimiser's current `lr` is kept. */
  schedule?: LrSchedule;
  /** Clip gradients to this global 2-norm (torch's clip_grad_norm_). */
  clipGradNorm?: number;
  checkpoint?: TrainCheckpointOptions;
  /** Restore model, optimiser, EMA and rng from this payload and continue at its step. */
  resume?: CheckpointPayload;
  /** Receives one JSON-serialisable object per logged step (a JSONL writer). */
  log?: (line: Record<string, unknown>) => void;
  /** Log every `logEvery` steps (and the last, also when `maxSeconds` ends the run). Default 1. */
  logEvery?: number;
  onProgress?: (ev: TrainProgressEvent) => void;
  /** Stops the loop between steps; the result says 'aborted'. */
  signal?: AbortSignal;
  /** Saved in checkpoint metadata as JSON. */
  config?: unknown;
}

/** Options of {@link train}. */
export interface TrainOptions<B> extends TrainRunOptions {
  model: Module;
  lossFn: LossFn<B>;
  data: BatchSource<B> | OpenAtStep<B>;
  /**
   * Optimiser over (a subset of) the model's trainable parameters; its names are used for gradients.
   * Given as AdamW options (a model package's parameter groups plus hyper-parameters), `train` makes
   * the AdamW and disposes it when it returns.
   */
  optimizer: AdamW | AdamWOptions;
  /** Updated after every optimiser step. */
  ema?: EMA;
  /** Generator saved in checkpoints and restored on resume (the loss function's randomness). */
  rng?: Rng;
  /** Images per batch (or a function of the batch), for images/s. */
  batchSize?: number | ((batch: B) => number);
  /**
   * Release each batch after its step: true (default) disposes every tensor in it (tf.dispose), false
   * keeps it (batches reused across steps), or a function that does the disposing.
   */
  disposeBatch?: boolean | ((batch: B) => void);
}

/** Why {@link train} returned: all steps done, `signal` aborted, the data ended, or `maxSeconds` used. */
export type StopReason = 'completed' | 'aborted' | 'data-exhausted' | 'time-limit';

/** Result of {@link train}. */
export interface TrainResult {
  /** Optimiser steps completed in all (including resumed ones). */
  step: number;
  /** Loss of every step run by this call, in order. */
  losses: number[];
  /** Learning rate of every step run by this call. */
  lrs: number[];
  stopReason: StopReason;
  /** Step of the last checkpoint saved by this call, or null. */
  lastCheckpointStep: number | null;
  elapsedSeconds: number;
}

const RESERVED_LOG_KEYS = new Set(['step', 'loss', 'lr', 'images_per_sec', 'elapsed_s', 'grad_norm']);

/**
 * Train `model` for `steps` optimiser steps (continuing from `resume`'s step when given).
 *
 * Each step: lr from the schedule; loss and gradients over the optimiser's parameters; a non-finite
 * loss (or gradient norm) stops the run with an Error before the model is updated and without saving;
 * optional clipping; AdamW; optional EMA; the batch is disposed; a JSONL line and a progress event are
 * emitted; a checkpoint is saved every `checkpoint.every` steps. The model is put in training mode.
 * For an exact resume the data must resume too: a function of the step, a loader with `seek` (sought to
 * the checkpoint's step), an {@link OpenAtStep} source, or an iterable driven by `rng`.
 */
export async function train<B>(opts: TrainOptions<B>): Promise<TrainResult> {
  const o = checkOptions(opts);
  if (isAdamW(o.optimizer)) return run(o, o.optimizer);
  let built: AdamW | undefined;
  // Inside tidy: AdamW's zerosLike moment initialisers would otherwise outlive it.
  tf.tidy(() => {
    built = new AdamW(o.optimizer as AdamWOptions);
  });
  try {
    return await run(o, built as AdamW);
  } finally {
    built?.dispose();
  }
}

const isAdamW = (o: AdamW | AdamWOptions): o is AdamW => typeof (o as AdamW).step === 'function';

async function run<B>(o: ReturnType<typeof checkOptions<B>>, optimizer: AdamW): Promise<TrainResult> {
  const { model, ema, rng } = o;
  const varToName = new Map<string, string>();
  const modelVars = new Set(model.namedParameters().map(([, v]) => v));
  for (const [name, v] of optimizer.namedParameters()) {
    if (!modelVars.has(v))
      throw new Error(`train: optimizer parameter '${name}' is not a trainable parameter of the model`);
    varToName.set(v.name, name);
  }
  const varList = optimizer.namedParameters().map(([, v]) => v);

  let step = 0;
  if (o.resume) step = restoreCheckpointPayload(o.resume, { model, optimizer, ema, rng }).step;
  const steps = o.steps;
  const next = batchReader(o.data, step);
  const meter = new EtaMeter({ total: steps, start: step });
  const progress = new RunProgress(steps, step, o.maxSeconds, o.resume);
  const losses: number[] = [];
  const lrs: number[] = [];
  let lastCheckpointStep: number | null = null;
  let stopReason: StopReason = 'completed';
  model.train();

  const saveCheckpoint = async () => {
    if (!o.checkpoint || lastCheckpointStep === step) return;
    const payload = makeCheckpointPayload({ model, optimizer, ema, step, rng, config: o.config });
    if (o.maxSeconds !== undefined)
      payload.metadata[PROGRESS_METADATA_KEY] = String(progress.at(step, meter.elapsedSeconds));
    try {
      await o.checkpoint.save(payload);
    } finally {
      disposeCheckpointPayload(payload);
    }
    lastCheckpointStep = step;
  };
  const lastGood = () =>
    lastCheckpointStep !== null
      ? `the last good checkpoint (step ${lastCheckpointStep}) was kept`
      : 'no checkpoint had been saved by this run';

  try {
    while (step < steps) {
      if (o.signal?.aborted) {
        stopReason = 'aborted';
        break;
      }
      const elapsed = meter.elapsedSeconds;
      if (progress.timeUp(elapsed)) {
        stopReason = 'time-limit';
        break;
      }
      const at = progress.scheduleStep(step, progress.at(step, elapsed));
      const lr = o.schedule ? o.schedule(at) : optimizer.lr;
      if (!Number.isFinite(lr) || lr < 0)
        throw new Error(`train: schedule(${at}) returned ${lr}, expected a finite lr >= 0`);
      const item = await next(step);
      if (item.done) {
        stopReason = 'data-exhausted';
        break;
      }
      const batch = item.value;
      const bs = typeof o.batchSize === 'function' ? o.batchSize(batch) : o.batchSize;
      let logs: Record<string, number>;
      let loss: number;
      try {
        const out = await computeGrads(o.lossFn, batch, step, varList, varToName);
        loss = out.loss;
        logs = out.logs;
        let grads = out.grads;
        try {
          if (!Number.isFinite(loss)) {
            throw new Error(
              `train: loss is ${loss} at step ${step} (0-based; ${step} steps completed); the model was not updated ` +
                `and no checkpoint was saved after it; ${lastGood()}`,
            );
          }
          if (o.clipGradNorm !== undefined) {
            const clipped = await clipByGlobalNormAsync(grads, o.clipGradNorm);
            tf.dispose(Object.values(grads));
            grads = clipped.grads;
            logs.grad_norm = clipped.norm;
            if (!Number.isFinite(clipped.norm)) {
              throw new Error(
                `train: gradient norm is ${clipped.norm} at step ${step} (loss ${loss}); the model was not updated ` +
                  `and no checkpoint was saved after it; ${lastGood()}`,
              );
            }
          }
          optimizer.step(grads, lr);
        } finally {
          tf.dispose(Object.values(grads));
        }
        ema?.update(model);
      } finally {
        releaseBatch(batch, o.disposeBatch);
      }
      step++;
      losses.push(loss);
      lrs.push(lr);
      meter.update(step);
      const stepsPerSec = meter.rate;
      const imagesPerSec = bs === undefined ? null : bs * stepsPerSec;
      const elapsedSeconds = meter.elapsedSeconds;
      // The last step is logged too: the run's end, or the one after which the budget is used.
      const last = step === steps || progress.timeUp(elapsedSeconds);
      if (o.log && (step % o.logEvery === 0 || last)) {
        o.log({
          ...logs,
          step,
          loss,
          lr,
          ...(imagesPerSec === null ? {} : { images_per_sec: imagesPerSec }),
          elapsed_s: elapsedSeconds,
        });
      }
      o.onProgress?.({
        step,
        steps,
        loss,
        lr,
        imagesPerSec,
        stepsPerSec,
        etaSeconds: Math.min(meter.etaSeconds, progress.secondsLeft(elapsedSeconds)),
        elapsedSeconds,
        logs,
      });
      if (o.checkpoint && step % o.checkpoint.every === 0) await saveCheckpoint();
    }
    // A call that ran no step (e.g. resumed at its last step) has nothing new to save.
    if (o.checkpoint && (o.checkpoint.onStop ?? true) && losses.length > 0) await saveCheckpoint();
  } finally {
    await next.close();
  }
  return { step, losses, lrs, stopReason, lastCheckpointStep, elapsedSeconds: meter.elapsedSeconds };
}

interface StepOutput {
  loss: number;
  logs: Record<string, number>;
  grads: Record<string, tf.Tensor>;
}

async function computeGrads<B>(
  lossFn: LossFn<B>,
  batch: B,
  step: number,
  varList: tf.Variable[],
  varToName: Map<string, string>,
): Promise<StepOutput> {
  const kept: [string, tf.Tensor][] = [];
  const logs: Record<string, number> = {};
  let value: tf.Scalar | undefined;
  let raw: tf.NamedTensorMap = {};
  try {
    const r = tf.variableGrads(() => {
      const out = lossFn(batch, step);
      const lossT = out instanceof tf.Tensor ? out : out?.loss;
      if (!(lossT instanceof tf.Tensor) || lossT.rank !== 0) {
        throw new Error(
          `train: lossFn must return a scalar tf.Tensor or {loss: scalar, logs?}, at step ${step}`,
        );
      }
      if (!(out instanceof tf.Tensor) && out.logs) {
        for (const [k, v] of Object.entries(out.logs)) {
          if (RESERVED_LOG_KEYS.has(k)) throw new Error(`train: lossFn log name '${k}' is reserved`);
          // variableGrads tidies the forward pass; log tensors must survive it to be read afterwards.
          if (v instanceof tf.Tensor) kept.push([k, tf.keep(v)]);
          else logs[k] = v;
        }
      }
      return lossT as tf.Scalar;
    }, varList);
    value = r.value;
    raw = r.grads;
  } catch (e) {
    tf.dispose(kept.map(([, t]) => t));
    throw e;
  }
  // A log entry may be the loss tensor itself: read everything first, then dispose each tensor once.
  // Asynchronous reads: WebGPU in Node has no synchronous download (tfjs's readSync needs OffscreenCanvas).
  const loss = (await value.data())[0];
  for (const [k, t] of kept) logs[k] = (await t.data())[0];
  tf.dispose([...new Set<tf.Tensor>([value, ...kept.map(([, t]) => t)])]);
  const grads: Record<string, tf.Tensor> = {};
  for (const [varName, g] of Object.entries(raw)) if (g) grads[varToName.get(varName)!] = g;
  return { loss, logs, grads };
}

interface BatchReader<B> {
  (step: number): Promise<IteratorResult<B>>;
  close: () => Promise<void>;
}

function batchReader<B>(source: BatchSource<B> | OpenAtStep<B>, startStep: number): BatchReader<B> {
  const data = isOpenAtStep(source) ? source.open(startStep) : source;
  const ended = (v: B | null | undefined): IteratorResult<B> =>
    v === null || v === undefined ? { done: true, value: undefined } : { done: false, value: v };
  const noClose = async () => {};
  if (typeof data === 'function') {
    const f = data as (step: number) => B | null | undefined | Promise<B | null | undefined>;
    return Object.assign(async (step: number) => ended(await f(step)), { close: noClose });
  }
  if (isBatchLoader(data)) {
    const loader = data as BatchLoader<B>;
    if (startStep > 0 && typeof loader.seek === 'function') loader.seek(startStep);
    return Object.assign(async () => ended(await loader.next()), { close: noClose });
  }
  const it: AsyncIterator<B> | Iterator<B> =
    Symbol.asyncIterator in data
      ? (data as AsyncIterable<B>)[Symbol.asyncIterator]()
      : (data as Iterable<B>)[Symbol.iterator]();
  return Object.assign(async () => await it.next(), {
    close: async () => {
      await it.return?.();
    },
  });
}

function isOpenAtStep<B>(d: unknown): d is OpenAtStep<B> {
  return typeof (d as OpenAtStep<B> | null)?.open === 'function' && !isBatchLoader(d);
}

function releaseBatch<B>(batch: B, how: TrainOptions<B>['disposeBatch']): void {
  if (how === false) return;
  if (typeof how === 'function') how(batch);
  else tf.dispose(batch as unknown as tf.TensorContainer);
}

function checkOptions<B>(opts: TrainOptions<B>): TrainOptions<B> & { logEvery: number } {
  if (!opts || typeof opts !== 'object') throw new TypeError('train: options object expected');
  if (!opts.model || typeof opts.model.namedParameters !== 'function')
    throw new TypeError('train: model must be a Module');
  if (typeof opts.lossFn !== 'function')
    throw new TypeError('train: lossFn must be a function (batch, step) => scalar');
  const d = opts.data as unknown;
  const iterable =
    d != null &&
    (typeof d === 'object' || typeof d === 'function') &&
    (Symbol.asyncIterator in d || Symbol.iterator in d);
  if (typeof d !== 'function' && !iterable && !isBatchLoader(d) && !isOpenAtStep(d)) {
    throw new TypeError(
      'train: data must be a loader with next() (a DataLoader), an AsyncIterable, an Iterable or a function (step) => batch',
    );
  }
  if (!opts.optimizer || (!isAdamW(opts.optimizer) && !Array.isArray(opts.optimizer.params)))
    throw new TypeError('train: optimizer must be an AdamW or AdamW options {params, lr, ...}');
  if (opts.schedule !== undefined && typeof opts.schedule !== 'function') {
    throw new TypeError('train: schedule must be a function (step) => lr');
  }
  checkNumber(opts.steps, 'train: steps', 'an integer >= 0');
  if (opts.maxSeconds !== undefined) checkNumber(opts.maxSeconds, 'train: maxSeconds', 'a finite number > 0');
  if (opts.clipGradNorm !== undefined)
    checkNumber(opts.clipGradNorm, 'train: clipGradNorm', 'a finite number > 0');
  if (opts.checkpoint !== undefined) {
    const c = opts.checkpoint;
    if (!c || !Number.isInteger(c.every) || c.every < 1 || typeof c.save !== 'function') {
      throw new TypeError(
        'train: checkpoint must be {every: integer >= 1, save: (payload) => Promise<void>}',
      );
    }
  }
  const logEvery = opts.logEvery ?? 1;
  if (!Number.isInteger(logEvery) || logEvery < 1)
    throw new RangeError(`train: logEvery must be an integer >= 1, got ${logEvery}`);
  if (opts.batchSize !== undefined && typeof opts.batchSize !== 'function') {
    if (!(Number.isFinite(opts.batchSize) && opts.batchSize > 0)) {
      throw new RangeError(
        `train: batchSize must be a number > 0 or a function of the batch, got ${opts.batchSize}`,
      );
    }
  }
  if (opts.model.namedParameters().length === 0) throw new Error('train: model has no trainable parameters');
  return { ...opts, logEvery };
}
