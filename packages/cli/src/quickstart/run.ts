/**
 * The quickstart run: phases in order, each skipped on --resume when an earlier run finished it
 * (`state.json`), with the plan of step counts kept in config.json so a resumed run trains to the same
 * totals.
 */
import { rm } from 'node:fs/promises';
import { join } from 'node:path';
import type { Autoencoder } from '@ldmae/core';
import { LATENT_MANIFEST_FILE } from '@ldmae/data';
import type { DiT, LatentDiffusion, LdmCheckpointInfo, LightningDiT } from '@ldmae/diffusion';
import { DEFAULT_PRESET, loadAutoencoder } from '../autoencoders.js';
import type { CommandContext } from '../command.js';
import type { QuickstartOptions } from '../commands/quickstart.js';
import { readResolvedConfig, writeResolvedConfig } from '../config.js';
import { type LoadedData, loadData, subsetData } from '../data-source.js';
import { exists, readJson, writeJson } from '../files.js';
import { fmtNumber, type Reporter } from '../progress.js';
import { writeQuickstartReport } from '../report/quickstart.js';
import {
  extractorSecondsPerImage,
  ldmSampleSeconds,
  ldmStepSeconds,
  vmaeStepSeconds,
} from '../steps/calibrate.js';
import { checkEarlierRun, checkResumeOptions, stopCheck } from '../steps/checkpoints.js';
import { encodeDataset, readCacheInfo } from '../steps/encode.js';
import {
  checkOfflineNetworks,
  evalGeneration,
  evalReconstruction,
  evalSmoothness,
  loadExtractor,
  loadLpips,
} from '../steps/evaluate.js';
import { writeGrid, writeReconstructionGrid } from '../steps/images.js';
import { loadLdm, makePipeline, sampleClassGrid } from '../steps/sample.js';
import { AE_FILES, trainAutoencoder } from '../steps/train-ae.js';
import { LDM_FILES, type TrainLdmSettings, trainLdm } from '../steps/train-ldm.js';
import {
  BUDGET_SHARES,
  EVAL_IMAGES_RANGE,
  evalImagesForBudget,
  finishSeconds,
  type QuickstartPlan,
  stepsForBudget,
} from './plan.js';

/** Folders and files of a quickstart output folder. */
export const QUICKSTART_FILES = {
  ae: 'vmae',
  latents: 'latents',
  ldm: 'ldm',
  state: 'state.json',
  reconstructions: 'reconstructions.png',
  samples: 'samples.png',
  metrics: 'metrics.json',
  smoothness: 'smoothness.json',
  report: 'report.html',
} as const;

/** Phases a resumed run skips: those `state.json` marks done. */
interface QuickstartState {
  ae?: boolean;
  encode?: boolean;
  ldm?: boolean;
}

/** What every phase shares. */
interface Run {
  o: QuickstartOptions;
  ctx: CommandContext;
  reporter: Reporter;
  outDir: string;
  budget: number;
  t0: number;
  /** ISO time the run started. */
  created: string;
  state: QuickstartState;
  plan: Partial<QuickstartPlan>;
  train: LoadedData;
  test: LoadedData;
  path: (f: string) => string;
  saveState: () => Promise<void>;
  writeConfig: () => Promise<string>;
  checkStop: (what: string) => void;
}

/** Quickstart options that may change on `--resume` (budget planning and evaluation only). */
const QUICKSTART_FREE_ON_RESUME = ['minutes', 'stepsScale', 'evalImages', 'perClass', 'extractorSize', 'eps'];

/** Run the quickstart with resolved options. */
export async function runQuickstart(o: QuickstartOptions, ctx: CommandContext): Promise<void> {
  const run = await prepare(o, ctx);
  const ae = await vmaePhase(run);
  try {
    const reconPng = await writeReconstructionGrid(ae, run.test, run.path(QUICKSTART_FILES.reconstructions));
    if (!reconPng) throw new Error('quickstart: the test split is empty');
    await encodePhase(run, ae);
    const { denoiser, info } = await ldmPhase(run, ae);
    try {
      await finish(run, ae, denoiser, info, reconPng);
    } finally {
      denoiser.dispose();
    }
  } finally {
    ae.dispose();
  }
}

/** Check the output folder against --resume / --overwrite, load the data, write the first config.json. */
async function prepare(o: QuickstartOptions, ctx: CommandContext): Promise<Run> {
  const t0 = performance.now();
  const outDir = o.out;
  const path = (f: string) => join(outDir, f);
  // A run counts once it saved something worth keeping: its state or the VMAE's first checkpoint.
  const hadRun =
    (await exists(path(QUICKSTART_FILES.state))) ||
    (await exists(join(path(QUICKSTART_FILES.ae), 'checkpoint', 'meta.json')));
  checkEarlierRun(o, hadRun, `${outDir} holds an earlier quickstart run`, ctx.argv);
  if (hadRun && o.resume) {
    // The plan was fixed by the first run; evaluation options only change the evaluation.
    const changes = await checkResumeOptions(outDir, o, o.allowChanges === true, QUICKSTART_FREE_ON_RESUME);
    if (changes.length > 0)
      ctx.reporter.warn(`--allow-changes: resuming with ${changes.map((c) => c.text).join('; ')}`);
  }
  if (o.overwrite) {
    for (const f of Object.values(QUICKSTART_FILES)) await rm(path(f), { recursive: true, force: true });
    await rm(path('config.json'), { force: true });
  }
  // The evaluation at the end needs nsfwjs: say so before ten minutes of training, not after.
  checkOfflineNetworks('the quickstart’s evaluation (rFID, FID, LPIPS)');
  const prev = o.resume ? await readResolvedConfig(outDir) : null;
  const state: QuickstartState =
    (o.resume ? await readJson<QuickstartState>(path(QUICKSTART_FILES.state)) : null) ?? {};
  const plan: Partial<QuickstartPlan> = prev?.derived ? { ...(prev.derived as Partial<QuickstartPlan>) } : {};
  const created = new Date().toISOString();
  const { reporter } = ctx;
  reporter.info(
    `ldmae quickstart: MNIST -> VMAE -> latent cache -> LightningDiT -> samples, metrics, report ` +
      `(budget ${o.minutes} min, backend ${ctx.runtime.backend}, ${ctx.runtime.threads} thread(s))`,
  );
  const all = await loadData('mnist', { split: 'train' });
  const train = subsetData(all, o.trainImages ?? all.dataset.length, 'training digits used');
  const test = await loadData('mnist', { split: 'test' });
  const run: Run = {
    o,
    ctx,
    reporter,
    outDir,
    budget: o.minutes * 60,
    t0,
    created,
    state,
    plan,
    train,
    test,
    path,
    saveState: () => writeJson(path(QUICKSTART_FILES.state), state),
    writeConfig: () =>
      writeResolvedConfig(outDir, 'quickstart', o, { derived: plan, runtime: ctx.runtime, created }),
    checkStop: stopCheck(ctx, 'quickstart', `finished phases are kept in ${outDir}`),
  };
  await run.writeConfig();
  return run;
}

/** The two trainings of the quickstart in messages, and the most steps the budget gives each. */
const TRAININGS = { ae: { what: 'VMAE', max: 50_000 }, ldm: { what: 'diffusion', max: 100_000 } } as const;

/** The least share of its budget share a training's clock gets, however late the earlier phases ran. */
const MIN_CLOCK_SHARE = 0.5;

/**
 * The steps and clock of training `key` (planned once: a resumed run keeps them, from config.json): the
 * steps as given (no clock), else a clock to the training's end (see {@link BUDGET_SHARES}; `end` gives
 * the diffusion model's, as a performance.now() time) and the most steps it fits at the seconds per
 * step `measure` gives, with headroom.
 */
async function planSteps(
  run: Run,
  key: 'ae' | 'ldm',
  measure: () => Promise<number>,
  end: () => Promise<number> = async () => run.t0 + BUDGET_SHARES.ae * run.budget * 1000,
): Promise<{ steps: number; maxSeconds?: number }> {
  const { o, plan } = run;
  const steps = `${key}Steps` as const;
  const seconds = `${key}Seconds` as const;
  if (plan[steps] === undefined) {
    plan[`${key}StepSeconds`] = null;
    plan[seconds] = null;
    if (o[steps] !== undefined) plan[steps] = o[steps];
    else {
      const share = BUDGET_SHARES[key] * run.budget;
      const until = await end();
      const sec = await measure();
      plan[`${key}StepSeconds`] = sec;
      plan[seconds] = Math.max((until - performance.now()) / 1000, MIN_CLOCK_SHARE * share);
      plan[steps] = stepsForBudget(plan[seconds], sec, o.stepsScale, TRAININGS[key].max);
      run.reporter.info(
        `plan: ${fmtNumber(sec)} s per ${TRAININGS[key].what} step -> ${fmtNumber(plan[seconds])} s ` +
          `of training, at most ${plan[steps]} steps`,
      );
    }
    await run.writeConfig();
  }
  const maxSeconds = plan[seconds];
  return { steps: plan[steps] as number, ...(typeof maxSeconds === 'number' ? { maxSeconds } : {}) };
}

/** (1) Train the VMAE, or load the one an earlier run finished. */
async function vmaePhase(run: Run): Promise<Autoencoder> {
  const { o, reporter } = run;
  const aeDir = run.path(QUICKSTART_FILES.ae);
  const aePath = join(aeDir, AE_FILES.model);
  if (run.state.ae && (await exists(aePath))) {
    reporter.info(`train-vmae: done in an earlier run, loaded ${aePath}`);
    return (await loadAutoencoder(aePath)).ae;
  }
  const { steps, maxSeconds } = await planSteps(run, 'ae', () =>
    vmaeStepSeconds(run.train, o.aeBatchSize, o.seed),
  );
  run.checkStop('training the VMAE');
  const r = await trainAutoencoder(
    {
      kind: 'vmae',
      preset: DEFAULT_PRESET.vmae,
      steps,
      ...(maxSeconds !== undefined ? { maxSeconds } : {}),
      batchSize: o.aeBatchSize,
      lr: o.aeLr,
      seed: o.seed,
      checkpointEvery: Math.max(10, Math.ceil(steps / 10)),
    },
    { ...run.ctx, data: run.train, outDir: aeDir, resume: o.resume === true, phase: 'train-vmae' },
  );
  run.state.ae = true;
  await run.saveState();
  return r.ae;
}

/** (2) Encode the training digits into the latent cache (unless an earlier run did). */
async function encodePhase(run: Run, ae: Autoencoder): Promise<void> {
  run.checkStop('encoding');
  const cacheDir = run.path(QUICKSTART_FILES.latents);
  if (
    run.state.encode &&
    (await exists(join(cacheDir, LATENT_MANIFEST_FILE))) &&
    (await readCacheInfo(cacheDir))
  ) {
    run.reporter.info(`encode: done in an earlier run (${cacheDir})`);
    return;
  }
  await encodeDataset(ae, run.train, {
    ...run.ctx,
    outDir: cacheDir,
    aePath: join(run.path(QUICKSTART_FILES.ae), AE_FILES.model),
    batchSize: 64,
    flip: false,
  });
  run.state.encode = true;
  await run.saveState();
}

/** (3) Train the diffusion model, or load the one an earlier run finished. */
async function ldmPhase(
  run: Run,
  ae: Autoencoder,
): Promise<{ denoiser: DiT | LightningDiT; info: LdmCheckpointInfo }> {
  const { o, reporter } = run;
  run.checkStop('training the diffusion model');
  const ldmDir = run.path(QUICKSTART_FILES.ldm);
  if (run.state.ldm && (await exists(join(ldmDir, 'checkpoint')))) {
    const l = await loadLdm(join(ldmDir, 'checkpoint'));
    reporter.info(`train-ldm: done in an earlier run, loaded ${join(ldmDir, 'checkpoint')}`);
    return l;
  }
  const settings: TrainLdmSettings = {
    preset: o.ldmPreset,
    ...(o.ldmDepth ? { depth: o.ldmDepth } : {}),
    ...(o.ldmWidth ? { width: o.ldmWidth } : {}),
    ...(o.ldmHeads ? { heads: o.ldmHeads } : {}),
    steps: 0,
    batchSize: o.ldmBatchSize,
    lr: o.ldmLr,
    ema: o.ema,
    labelDropout: 0.1,
    seed: o.seed,
    checkpointEvery: 100,
  };
  const shape = ae.latentShape([28, 28, 3]);
  const { steps, maxSeconds } = await planSteps(
    run,
    'ldm',
    () => ldmStepSeconds(settings, shape, 10),
    () => ldmClockEnd(run, settings, shape),
  );
  const r = await trainLdm(
    {
      ...settings,
      steps,
      ...(maxSeconds !== undefined ? { maxSeconds } : {}),
      checkpointEvery: Math.max(10, Math.ceil(steps / 10)),
    },
    { ...run.ctx, cacheDir: run.path(QUICKSTART_FILES.latents), outDir: ldmDir, resume: o.resume === true },
  );
  run.state.ldm = true;
  await run.saveState();
  return r;
}

/**
 * When the diffusion model's clock ends: at `ae + ldm` of the budget (see {@link BUDGET_SHARES}), or
 * later when the sample grid and the evaluation need less than the rest ({@link finishSeconds}) at the
 * extractor's and the sampler's speeds measured now.
 */
async function ldmClockEnd(run: Run, s: TrainLdmSettings, shape: [number, number, number]): Promise<number> {
  const { o, plan, reporter } = run;
  const extractor = await loadExtractor('offline', o.extractorSize);
  let extractorSeconds: number;
  try {
    extractorSeconds = await extractorSecondsPerImage(extractor, 28);
  } finally {
    extractor.dispose();
  }
  const sampleSeconds = await ldmSampleSeconds(s, shape, 10, o.sampleSteps);
  const evalImages = o.evalImages ?? Math.min(EVAL_IMAGES_RANGE[1], run.test.dataset.length);
  const reserve = finishSeconds({
    extractorSeconds,
    sampleSeconds,
    epsCount: o.eps.length,
    evalImages,
    gridImages: o.perClass * 10,
  });
  plan.finishSeconds = reserve;
  reporter.info(
    `plan: ${fmtNumber(extractorSeconds)} s per extractor image, ${fmtNumber(sampleSeconds)} s per sample -> ` +
      `${fmtNumber(reserve)} s kept for sampling and evaluating ${evalImages} images`,
  );
  const mark = (BUDGET_SHARES.ae + BUDGET_SHARES.ldm) * run.budget;
  return run.t0 + Math.max(mark, run.budget - reserve) * 1000;
}

/** (4)-(6) The sample grid, the metrics, the files and the report. */
async function finish(
  run: Run,
  ae: Autoencoder,
  denoiser: DiT | LightningDiT,
  info: LdmCheckpointInfo,
  reconPng: Uint8Array,
): Promise<void> {
  const { o, plan, reporter, path } = run;
  const signal = run.ctx.signal;
  run.checkStop('sampling');
  const pipe = makePipeline(ae, denoiser, info, { sampler: o.sampler, shift: o.shift });
  const tS = performance.now();
  const grid = await sampleClassGrid(pipe, info.numClasses, {
    perClass: o.perClass,
    steps: o.sampleSteps,
    cfg: o.cfg,
    seed: o.seed,
    batchSize: 50,
    reporter,
    signal,
  });
  const sampleSeconds = (performance.now() - tS) / 1000 / grid.images.shape[0];
  let samplesPng: Uint8Array;
  try {
    samplesPng = await writeGrid(path(QUICKSTART_FILES.samples), grid.images, o.perClass);
  } finally {
    grid.images.dispose();
  }

  run.checkStop('evaluating');
  const metrics = await evaluate(run, ae, pipe, sampleSeconds);
  await writeJson(path(QUICKSTART_FILES.metrics), metrics);
  await writeJson(path(QUICKSTART_FILES.smoothness), metrics.smoothness);
  await run.writeConfig();
  const { reconstruction: recon, generation: gen, smoothness: smooth } = metrics;
  const totalSeconds = (performance.now() - run.t0) / 1000;
  const reportPath = path(QUICKSTART_FILES.report);
  await writeQuickstartReport(reportPath, {
    options: o,
    plan,
    created: run.created,
    runtime: run.ctx.runtime,
    train: run.train,
    test: run.test,
    phases: reporter.phases,
    totalSeconds,
    budgetSeconds: run.budget,
    aeLog: join(path(QUICKSTART_FILES.ae), AE_FILES.log),
    ldmLog: join(path(QUICKSTART_FILES.ldm), LDM_FILES.log),
    reconPng,
    samplesPng,
    classes: info.classes,
    recon,
    gen,
    smooth,
    extractorPreprocessing: metrics.extractorPreprocessing,
    ldmConfig: (denoiser as LightningDiT).config,
  });
  const n = (v: number | null) => fmtNumber(v);
  reporter.result(
    {
      report: reportPath,
      samples: path(QUICKSTART_FILES.samples),
      reconstructions: path(QUICKSTART_FILES.reconstructions),
      metrics: path(QUICKSTART_FILES.metrics),
      seconds: totalSeconds,
      plan,
      reconstruction: recon,
      generation: gen,
      smoothness: smooth.points,
    },
    [
      '',
      `quickstart finished in ${totalSeconds.toFixed(0)} s (budget ${run.budget.toFixed(0)} s) on ${run.ctx.runtime.backend}`,
      `reconstruction (${recon.count} test digits): PSNR ${n(recon.psnr)} dB, SSIM ${n(recon.ssim)}, LPIPS ${n(recon.lpips)}, rFID ${n(recon.rfid)}`,
      `generation (${gen.count} samples vs ${gen.referenceCount} test digits): FID ${n(gen.fid)}, precision ${n(gen.precision)}, recall ${n(gen.recall)}`,
      `smoothness (${smooth.points[0]?.count ?? 0} digits): rFID ${smooth.points.map((p) => `${p.eps}: ${n(p.rfid)}`).join(', ')}`,
      `feature network: ${recon.extractor}; LPIPS: ${recon.lpipsNet}`,
      `report:          ${reportPath}`,
      `samples:         ${path(QUICKSTART_FILES.samples)}`,
      `reconstructions: ${path(QUICKSTART_FILES.reconstructions)}`,
    ].join('\n'),
  );
}

/** (5) Reconstruction, generation and smoothness metrics with the offline networks, n from the budget. */
async function evaluate(run: Run, ae: Autoencoder, pipe: LatentDiffusion, sampleSeconds: number) {
  const { o, plan, reporter } = run;
  const extractor = await loadExtractor('offline', o.extractorSize);
  try {
    const lpips = await loadLpips(28);
    try {
      const eps = o.eps;
      if (o.evalImages !== undefined) {
        plan.evalImages = o.evalImages;
        plan.smoothnessImages = Math.max(2, Math.round(plan.evalImages / 2));
      } else {
        const fe = await extractorSecondsPerImage(extractor, 28);
        plan.extractorSecondsPerImage = fe;
        Object.assign(
          plan,
          evalImagesForBudget({
            seconds: run.budget - (performance.now() - run.t0) / 1000 - 5,
            extractorSeconds: fe,
            sampleSeconds,
            epsCount: eps.length,
            available: run.test.dataset.length,
          }),
        );
        reporter.info(
          `plan: ${fmtNumber(fe)} s per extractor image, ${fmtNumber(sampleSeconds)} s per sample -> ` +
            `n = ${plan.evalImages} images per metric (${plan.smoothnessImages} for smoothness)`,
        );
      }
      await run.writeConfig();
      const ev = { extractor, lpips, reporter, batchSize: 32, signal: run.ctx.signal };
      const reconstruction = await evalReconstruction(ae, run.test, plan.evalImages as number, ev);
      run.checkStop('the generation metrics');
      const generation = await evalGeneration(
        pipe,
        run.test,
        plan.evalImages as number,
        { steps: o.sampleSteps, cfg: o.cfg, seed: o.seed + 1 },
        ev,
      );
      run.checkStop('the smoothness curve');
      const smoothness = await evalSmoothness(ae, run.test, plan.smoothnessImages as number, eps, {
        ...ev,
        lpips: null,
      });
      return {
        extractor: reconstruction.extractor,
        extractorPreprocessing: extractor.preprocessing,
        lpipsNet: reconstruction.lpipsNet,
        reconstruction,
        generation,
        smoothness,
      };
    } finally {
      lpips.dispose();
    }
  } finally {
    extractor.dispose();
  }
}
