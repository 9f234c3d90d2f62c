/**
 * `runStudy`: the paper's comparison of autoencoders, run end to end. For each training of the study
 * (the models of Tables 1-3, the VMAE ablation of Table 4, per seed) in its own folder: train the
 * autoencoder with its own objective, evaluate reconstruction (Table 1), speed and size (Table 2),
 * latent noise (Fig. 6) and perceptual compression (Fig. 7), encode the training images, train one
 * LightningDiT on the normalised latents and evaluate generation (Table 3). Every stage is recorded
 * in `<id>/result.json` when it finishes, so `--resume` skips it; an interrupted training continues
 * from its checkpoint. Then study.json and study.html.
 */
import { mkdir, rm, stat } from 'node:fs/promises';
import { join } from 'node:path';
import type { Autoencoder, Module } from '@ldmae/core';
import type { LightningDiT } from '@ldmae/diffusion';
import {
  type CompressionStats,
  type GenerationResult,
  perceptualCompression,
  type ReconstructionResult,
} from '@ldmae/metrics';
import * as tf from '@tensorflow/tfjs-core';
import { type AutoencoderKind, DEFAULT_PRESET, loadAutoencoder } from '../autoencoders.js';
import type { CommandContext } from '../command.js';
import type { StudyOptions } from '../commands/study.js';
import { writeResolvedConfig } from '../config.js';
import { type LoadedData, loadData, subsetData } from '../data-source.js';
import { UsageError } from '../errors.js';
import { exists, readJson, writeJson } from '../files.js';
import { fmtNumber } from '../progress.js';
import { writeStudyReport } from '../report/study.js';
import { extractorSecondsPerImage, ldmStepSeconds } from '../steps/calibrate.js';
import { checkEarlierRun, stopCheck } from '../steps/checkpoints.js';
import { encodeDataset } from '../steps/encode.js';
import {
  checkOfflineNetworks,
  type EvalContext,
  evalGeneration,
  evalReconstruction,
  evalSmoothness,
  imageSource,
  loadExtractor,
  loadLpips,
} from '../steps/evaluate.js';
import { writeGrid, writeReconstructionGrid } from '../steps/images.js';
import { makePipeline, sampleClassGrid } from '../steps/sample.js';
import { AE_FILES, trainAutoencoder } from '../steps/train-ae.js';
import { type TrainLdmSettings, trainLdm } from '../steps/train-ldm.js';
import { judgeClaims, type StudyTables } from './claims.js';
import { maskedTestImages } from './masks.js';
import {
  aeClockSeconds,
  type BudgetRule,
  costClass,
  planAeSteps,
  planEvalImages,
  STUDY_MODELS,
  STUDY_SHARES,
  type StudyRunSpec,
  studyRuns,
} from './plan.js';
import { studyTables } from './tables.js';

/** Files of a study folder. */
export const STUDY_FILES = {
  plan: 'plan.json',
  json: 'study.json',
  html: 'study.html',
  result: 'result.json',
} as const;

/** The plan of a study, fixed by its first run (kept in plan.json so a resumed study trains the same). */
export interface StudyPlan {
  rule: BudgetRule;
  runs: StudyRunSpec[];
  /** Autoencoder training steps (the most, under a clock) and measured seconds per step, by run id. */
  aeSteps: Record<string, number>;
  aeStepSeconds: Record<string, number>;
  /** Under the 'time' rule with planned steps: each autoencoder's training seconds (its clock), by run id. */
  aeSeconds?: Record<string, number>;
  aeBatchSize: number;
  ldm: TrainLdmSettings;
  ldmStepSeconds: number;
  /** Images per metric, and for the noise curve. */
  evalImages: number;
  smoothnessImages: number;
  /** Training images encoded for the diffusion model. */
  encodeImages: number;
  extractorSecondsPerImage: number;
  /** Seconds the calibration took. */
  calibrationSeconds: number;
}

/** What one training of the study measured (each part once its stage finished). */
export interface StudyRunResult {
  spec: StudyRunSpec;
  train?: { steps: number; seconds: number; imagesPerSecond: number; params: number; msPerImage: number };
  recon?: ReconstructionResult;
  smoothness?: { eps: number; rfid: number | null; psnr: number | null; count: number }[];
  /** Fig. 7; `threshold` is null when the segments came from `--masks`. */
  compression?: {
    latent: CompressionStats;
    pixels: CompressionStats;
    count: number;
    threshold: number | null;
  };
  gen?: GenerationResult;
}

/** What {@link runStudy} returns (and writes as study.json). */
export interface StudyResult {
  plan: StudyPlan;
  runs: StudyRunResult[];
  tables: StudyTables;
  claims: ReturnType<typeof judgeClaims>;
  json: string;
  html: string;
  seconds: number;
}

interface Ctx {
  o: StudyOptions;
  ctx: CommandContext;
  out: string;
  train: LoadedData;
  encodeData: LoadedData;
  test: LoadedData;
  plan: StudyPlan;
  ev: EvalContext & { extractor: NonNullable<EvalContext['extractor']> };
  checkStop: (what: string) => void;
}

/** Foreground (object) threshold of Fig. 7 on single-channel digits / clothes: pixel > 0.1 of full scale. */
export const SEGMENTATION_THRESHOLD = 0.1;

/**
 * Run a study with resolved `ldmae study` options (see the command's help for each). Returns the
 * tables, the verdicts and the paths of study.json / study.html.
 */
export async function runStudy(o: StudyOptions, ctx: CommandContext): Promise<StudyResult> {
  const t0 = performance.now();
  const out = o.out;
  const { reporter, signal } = ctx;
  const hadRun = await exists(join(out, STUDY_FILES.plan));
  checkEarlierRun(o, hadRun, `${out} holds an earlier study`, ctx.argv);
  if (o.overwrite) await rm(out, { recursive: true, force: true });
  await mkdir(out, { recursive: true });
  parseModels(o.models);
  checkOfflineNetworks('the study (rFID, gFID, LPIPS and the perceptual terms)');
  const dataName = o.data;
  if (o.masks !== undefined) await checkMasks(o.masks, dataName);
  const train = await loadData(dataName, { split: 'train' });
  const test = await loadData(dataName, { split: 'test' });
  if (train.imageSize % 4 !== 0)
    throw new UsageError(
      `--data: the study's models need image sides divisible by 4, got ${train.imageSize}`,
    );
  reporter.info(
    `ldmae study: ${train.description}; budget ${o.minutes} min (${o.budgetRule} rule), backend ${ctx.runtime.backend}`,
  );
  const extractor = await loadExtractor(o.extractor, o.extractorSize);
  const lpips = await loadLpips(train.imageSize);
  try {
    const plan =
      (hadRun && o.resume ? await readJson<StudyPlan>(join(out, STUDY_FILES.plan)) : null) ??
      (await makePlan(o, ctx, train, test, extractor));
    await writeJson(join(out, STUDY_FILES.plan), plan);
    await writeResolvedConfig(out, 'study', o, { derived: { plan: out }, runtime: ctx.runtime });
    const encodeData = subsetData(train, plan.encodeImages, 'images encoded');
    const c: Ctx = {
      o,
      ctx,
      out,
      train,
      encodeData,
      test,
      plan,
      ev: { extractor, lpips, reporter, batchSize: 32, signal },
      checkStop: stopCheck(ctx, 'study', `finished stages are kept in ${out}`),
    };
    const results: StudyRunResult[] = [];
    for (const spec of plan.runs) results.push(await studyOne(c, spec));
    const tables = studyTables(results);
    const claims = judgeClaims(tables);
    const seconds = (performance.now() - t0) / 1000;
    const json = join(out, STUDY_FILES.json);
    const html = join(out, STUDY_FILES.html);
    const body = {
      format: 'ldmae-study',
      version: 1,
      created: new Date().toISOString(),
      data: train.description,
      rule: plan.rule,
      budgetMinutes: o.minutes,
      seconds,
      extractor: extractor.name,
      lpips: results.find((r) => r.recon)?.recon?.lpipsNet ?? null,
      segmentation:
        o.masks === undefined
          ? `object = pixels brighter than ${100 * SEGMENTATION_THRESHOLD}% of full scale, background = the rest`
          : `the label images of ${o.masks} (each grey level or colour one segment)`,
      plan,
      tables,
      claims,
      runs: results,
    };
    await writeJson(json, body);
    await writeStudyReport(html, { ...body, runtime: ctx.runtime, out });
    reporter.result(
      { json, html, seconds, claims: claims.map((k) => ({ id: k.id, verdict: k.verdict })) },
      [
        '',
        `study finished in ${seconds.toFixed(0)} s (budget ${o.minutes * 60} s, ${plan.rule} rule)`,
        ...claims.map((k) => `${k.verdict.padEnd(13)} ${k.claim} (${k.source})`),
        `report: ${html}`,
      ].join('\n'),
    );
    return { plan, runs: results, tables, claims, json, html, seconds };
  } finally {
    lpips.dispose();
    extractor.dispose();
  }
}

/** `--models`: a comma-separated list of the study's kinds, each at most once. */
export function parseModels(v: unknown): AutoencoderKind[] {
  const list = (Array.isArray(v) ? v : String(v).split(',')).map((s) => String(s).trim()).filter(Boolean);
  const bad = list.filter((m) => !STUDY_MODELS.includes(m as AutoencoderKind));
  if (list.length === 0 || bad.length > 0)
    throw new UsageError(
      `--models must list autoencoders of ${STUDY_MODELS.join(', ')}, got ${JSON.stringify(String(v))}`,
    );
  return STUDY_MODELS.filter((m) => list.includes(m));
}

/** Calibrate each kind of training step, the diffusion step and the extractor, then share the budget. */
async function makePlan(
  o: StudyOptions,
  ctx: CommandContext,
  train: LoadedData,
  test: LoadedData,
  extractor: NonNullable<EvalContext['extractor']>,
): Promise<StudyPlan> {
  const tc = performance.now();
  const { reporter } = ctx;
  const budget = o.minutes * 60;
  const models = parseModels(o.models);
  const runs = studyRuns(models, o.ablation !== false, o.seeds);
  const aeBatchSize = o.aeBatchSize;
  const ldm: TrainLdmSettings = {
    preset: o.ldmPreset,
    steps: 0,
    batchSize: o.ldmBatchSize,
    lr: o.ldmLr,
    ema: o.ema,
    emaWarmup: true,
    labelDropout: 0.1,
    seed: o.seed,
    checkpointEvery: 100,
  };
  // One measurement per cost class: the same trainer on a scratch folder, 3 then 8 steps (setup cancels).
  const perClass: Record<string, number> = {};
  const aeStepSeconds: Record<string, number> = {};
  for (const spec of runs) {
    const k = costClass(spec);
    if (perClass[k] === undefined && o.aeSteps === undefined) {
      perClass[k] = await timeAeStep(spec, o, ctx, train, aeBatchSize);
      reporter.info(`calibrate: ${fmtNumber(perClass[k])} s per ${k} training step`);
    }
    aeStepSeconds[spec.id] = perClass[k] ?? 0;
  }
  const shape = DEFAULT_LATENT(train.imageSize);
  const ldmSec =
    o.ldmSteps === undefined ? await ldmStepSeconds(ldm, shape, Math.max(1, train.classes?.length ?? 1)) : 0;
  const fe = await extractorSecondsPerImage(extractor, train.imageSize);
  const calibrationSeconds = (performance.now() - tc) / 1000;
  const left = budget - calibrationSeconds;
  const fixedAeSteps = o.aeSteps;
  const aeSteps =
    fixedAeSteps !== undefined
      ? Object.fromEntries(runs.map((r) => [r.id, fixedAeSteps]))
      : planAeSteps(o.budgetRule, STUDY_SHARES.ae * left, aeStepSeconds);
  const aeSeconds =
    fixedAeSteps === undefined
      ? aeClockSeconds(o.budgetRule, STUDY_SHARES.ae * left, Object.keys(aeStepSeconds))
      : undefined;
  ldm.steps =
    o.ldmSteps !== undefined
      ? o.ldmSteps
      : Math.max(2, Math.floor((STUDY_SHARES.ldm * left) / runs.length / Math.max(ldmSec, 1e-6)));
  // Sampling cost: steps x 2 (guidance) denoiser forwards, about a third of a training step per image.
  const sampleSeconds = (o.sampleSteps * 2 * ldmSec) / ldm.batchSize / 3;
  const evalShare = 1 - STUDY_SHARES.ae - STUDY_SHARES.ldm - 0.07;
  const encodeImages = Math.min(train.dataset.length, Math.max(1000, Math.round(200 * o.minutes)));
  const evalImages =
    o.evalImages !== undefined
      ? o.evalImages
      : planEvalImages({
          seconds: (evalShare * left) / runs.length,
          extractorSeconds: fe,
          sampleSeconds,
          epsCount: o.eps.length,
          available: test.dataset.length,
        });
  const plan: StudyPlan = {
    rule: o.budgetRule,
    runs,
    aeSteps,
    aeStepSeconds,
    ...(aeSeconds ? { aeSeconds } : {}),
    aeBatchSize,
    ldm,
    ldmStepSeconds: ldmSec,
    evalImages,
    smoothnessImages: Math.max(2, Math.round(evalImages / 2)),
    encodeImages,
    extractorSecondsPerImage: fe,
    calibrationSeconds,
  };
  reporter.info(
    `plan (${plan.rule} rule): ${runs.map((r) => `${r.id} ${aeSteps[r.id]}`).join(', ')} autoencoder steps; ` +
      `${ldm.steps} diffusion steps each; ${evalImages} images per metric; ${encodeImages} images encoded`,
  );
  return plan;
}

/** Latent shape of the study's presets (f4, 4 channels) for square images of side s. */
const DEFAULT_LATENT = (s: number): [number, number, number] => [s / 4, s / 4, 4];

async function timeAeStep(
  spec: StudyRunSpec,
  o: StudyOptions,
  ctx: CommandContext,
  data: LoadedData,
  batchSize: number,
): Promise<number> {
  const dir = join(o.out, '.calibrate', costClass(spec));
  const time = async (steps: number) => {
    await rm(dir, { recursive: true, force: true });
    const t = performance.now();
    const r = await trainAutoencoder(aeSettings(spec, o, steps, batchSize), {
      ...ctx,
      data,
      outDir: dir,
      resume: false,
      overwrite: true,
      phase: `calibrate ${costClass(spec)}`,
    });
    r.ae.dispose();
    return (performance.now() - t) / 1000;
  };
  try {
    const a = await time(3);
    const b = await time(8);
    return Math.max(1e-3, (b - a) / 5);
  } finally {
    await rm(join(o.out, '.calibrate'), { recursive: true, force: true });
  }
}

function aeSettings(spec: StudyRunSpec, o: StudyOptions, steps: number, batchSize: number) {
  return {
    kind: spec.kind,
    preset: DEFAULT_PRESET[spec.kind],
    steps,
    batchSize,
    lr: spec.kind === 'vmae' ? o.aeLr : o.baselineLr,
    seed: o.seed + 1000 * spec.seed,
    checkpointEvery: Math.max(10, Math.ceil(steps / 10)),
    maskRatio: spec.maskRatio,
    klWeight: spec.klWeight,
    lpipsWeight: spec.lpipsWeight,
  };
}

/** Every stage of one training of the study, skipping those an earlier run finished. */
async function studyOne(c: Ctx, spec: StudyRunSpec): Promise<StudyRunResult> {
  const dir = join(c.out, spec.id);
  const file = join(dir, STUDY_FILES.result);
  const r: StudyRunResult = (await readJson<StudyRunResult>(file)) ?? { spec };
  const save = () => writeJson(file, r);
  const { reporter } = c.ctx;
  const aeDir = join(dir, 'ae');
  const aePath = join(aeDir, AE_FILES.model);
  let ae: Autoencoder;
  if (r.train && (await exists(aePath))) {
    ae = (await loadAutoencoder(aePath)).ae;
    reporter.info(`${spec.id}: training done in an earlier run`);
  } else {
    c.checkStop(`training ${spec.id}`);
    const steps = c.plan.aeSteps[spec.id];
    const t = performance.now();
    const maxSeconds = c.plan.aeSeconds?.[spec.id];
    const settings = {
      ...aeSettings(spec, c.o, steps, c.plan.aeBatchSize),
      ...(maxSeconds ? { maxSeconds } : {}),
    };
    const out = await trainAutoencoder(settings, {
      ...c.ctx,
      data: c.train,
      outDir: aeDir,
      resume: await exists(join(aeDir, 'checkpoint', 'meta.json')),
      phase: `train ${spec.id}`,
    });
    ae = out.ae;
    const seconds = (performance.now() - t) / 1000;
    r.train = {
      steps: out.result.step,
      seconds,
      imagesPerSecond: (out.result.step * c.plan.aeBatchSize) / Math.max(seconds, 1e-9),
      params: (ae as unknown as Module).namedParameters().reduce((s, [, v]) => s + v.size, 0),
      msPerImage: await msPerImage(ae, c.test),
    };
    await save();
  }
  try {
    if (!r.recon) {
      c.checkStop(`evaluating ${spec.id}`);
      r.recon = await evalReconstruction(ae, c.test, c.plan.evalImages, c.ev, `recon ${spec.id}`);
      const s = await evalSmoothness(
        ae,
        c.test,
        c.plan.smoothnessImages,
        c.o.eps,
        { ...c.ev, lpips: null },
        `noise ${spec.id}`,
      );
      r.smoothness = s.points.map((p) => ({ eps: p.eps, rfid: p.rfid, psnr: p.psnr, count: p.count }));
      r.compression = await compression(ae, c);
      await writeReconstructionGrid(ae, c.test, join(dir, 'reconstructions.png'));
      await save();
    }
    if (!r.gen) {
      c.checkStop(`the diffusion model of ${spec.id}`);
      const cache = join(dir, 'latents');
      await encodeDataset(ae, c.encodeData, {
        ...c.ctx,
        outDir: cache,
        aePath,
        batchSize: 64,
        flip: false,
        phase: `encode ${spec.id}`,
      });
      const l = await trainLdm(
        {
          ...c.plan.ldm,
          seed: c.plan.ldm.seed + 1000 * spec.seed,
          checkpointEvery: Math.max(10, Math.ceil(c.plan.ldm.steps / 10)),
        },
        {
          ...c.ctx,
          cacheDir: cache,
          outDir: join(dir, 'ldm'),
          resume: await exists(join(dir, 'ldm', 'checkpoint', 'meta.json')),
          phase: `diffusion ${spec.id}`,
        },
      );
      try {
        const pipe = makePipeline(ae, l.denoiser as LightningDiT, l.info, {
          sampler: 'euler',
          shift: c.o.shift,
        });
        const sample = {
          steps: c.o.sampleSteps,
          cfg: c.o.cfg,
          seed: c.o.seed + 1,
        };
        r.gen = await evalGeneration(pipe, c.test, c.plan.evalImages, sample, c.ev, `gfid ${spec.id}`);
        const grid = await sampleClassGrid(pipe, l.info.numClasses, {
          ...c.ctx,
          ...sample,
          perClass: 8,
          batchSize: 40,
        });
        await writeGrid(join(dir, 'samples.png'), grid.images, 8);
        grid.images.dispose();
        pipe.scheduler.dispose();
      } finally {
        l.denoiser.dispose();
      }
      await save();
    }
  } finally {
    ae.dispose();
  }
  return r;
}

/** Milliseconds per image of encode (posterior mean) + decode, batch 32, after one warm-up batch. */
async function msPerImage(ae: Autoencoder, test: LoadedData): Promise<number> {
  for await (const x of imageSource(test, 32, 32, 5)()) {
    const once = () =>
      tf.tidy(() => {
        const d = ae.encode(x);
        const y = ae.decode(d.mean as tf.Tensor4D);
        d.dispose();
        return y;
      });
    const warm = once();
    await warm.data();
    warm.dispose();
    const t = performance.now();
    const y = once();
    await y.data();
    y.dispose();
    const ms = (performance.now() - t) / x.shape[0];
    x.dispose();
    return ms;
  }
  return Number.NaN;
}

/**
 * Fig. 7 on test images: against the label images of `--masks`, else with foreground / background as
 * the segmentation (pixel > threshold).
 */
async function compression(ae: Autoencoder, c: Ctx): Promise<StudyRunResult['compression']> {
  const n = Math.min(c.plan.smoothnessImages, c.test.dataset.length);
  let images: tf.Tensor4D;
  let seg: tf.Tensor;
  if (c.o.masks !== undefined) {
    ({ images, segmentation: seg } = await maskedTestImages(c.test, c.o.data, c.o.masks, n, c.ctx.signal));
  } else {
    const parts: tf.Tensor4D[] = [];
    for await (const x of imageSource(c.test, n, 32, 6, c.ctx.signal)()) parts.push(x);
    images = tf.concat(parts, 0) as tf.Tensor4D;
    tf.dispose(parts);
    // [-1, 1] images: grey level above the threshold of full scale is the object.
    const cut = -1 + 2 * SEGMENTATION_THRESHOLD;
    seg = tf.tidy(() => tf.cast(tf.greater(tf.mean(images, 3), cut), 'int32'));
  }
  try {
    const r = await perceptualCompression(ae, images, seg, { batchSize: 32 });
    const threshold = c.o.masks === undefined ? SEGMENTATION_THRESHOLD : null;
    return { latent: r.latent, pixels: r.pixels, count: r.count, threshold };
  } finally {
    tf.dispose([images, seg]);
  }
}

/** `--masks` needs an image folder as `--data` and an existing folder of label images. */
async function checkMasks(masks: string, data: string): Promise<void> {
  if (!(await stat(data).catch(() => null))?.isDirectory())
    throw new UsageError(`--masks needs an image folder as --data, got '${data}'`);
  if (!(await stat(masks).catch(() => null))?.isDirectory())
    throw new UsageError(`--masks: '${masks}' is not a folder`);
}
