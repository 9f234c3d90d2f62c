/**
 * The evaluations with the networks available offline: rFID / FID / precision / recall on the nsfwjs
 * InceptionV3 (or the FID Inception from a weights file), LPIPS on the offline nsfwjs trunk, PSNR and
 * SSIM, and the latent-smoothness curve (@ldmae/metrics). Every result names its networks and n.
 */
import type { Autoencoder } from '@ldmae/core';
import { DataLoader } from '@ldmae/data';
import type { LatentDiffusion } from '@ldmae/diffusion';
import { loadOfflineLpips, nsfwjsInceptionDir } from '@ldmae/losses';
import {
  evaluateGeneration,
  evaluateReconstruction,
  type FeatureExtractor,
  type GenerationResult,
  type LatentSmoothnessResult,
  type LpipsLike,
  latentSmoothness,
  loadFidInceptionExtractor,
  loadOfflineFeatureExtractor,
  type ReconstructionResult,
} from '@ldmae/metrics';
import * as tf from '@tensorflow/tfjs-core';
import type { LoadedData } from '../data-source.js';
import { CliError, InterruptedError, UsageError } from '../errors.js';
import { yieldToEventLoop } from '../interrupt.js';
import type { Reporter } from '../progress.js';

/**
 * Fail before any work when the optional package behind the offline networks (nsfwjs: the offline
 * feature network and the LPIPS trunk) is missing, instead of after training. `what` names the step
 * that needs it; `locate` finds the package (a parameter for tests).
 */
export function checkOfflineNetworks(what: string, locate: () => string = nsfwjsInceptionDir): void {
  try {
    locate();
  } catch (e) {
    throw new CliError(
      `${what} needs the optional package nsfwjs (the offline feature network and LPIPS trunk), which is not installed`,
      { hint: 'install it: npm install nsfwjs@4.4.0 --legacy-peer-deps', cause: e },
    );
  }
}

/**
 * The feature extractor of the FID-style metrics: 'offline' (the nsfwjs InceptionV3 at `size` px, >= 75)
 * or a path to pytorch-fid's Inception weights (`pt_inception-2015-12-05-6726825d.pth`, 299 px).
 */
export async function loadExtractor(spec: string, size: number): Promise<FeatureExtractor> {
  try {
    if (spec === 'offline') return await loadOfflineFeatureExtractor({ size, maxBatch: 16 });
    return await loadFidInceptionExtractor(spec);
  } catch (e) {
    if (spec === 'offline')
      throw new CliError(`cannot load the offline feature extractor: ${(e as Error).message}`, {
        hint: 'it comes from the npm package nsfwjs@4.4.0 (npm install nsfwjs@4.4.0 --legacy-peer-deps)',
      });
    throw new CliError(
      `--extractor: cannot load FID Inception weights from '${spec}': ${(e as Error).message}`,
    );
  }
}

/**
 * The offline LPIPS (nsfwjs InceptionV3 early layers, uniform lin weights). Images smaller than its
 * trunk takes (28 px digits) are bilinearly upsampled by @ldmae/losses' Lpips (`resize: 'auto'`);
 * for such an `imageSize` the network's name says so, for the reports.
 */
export async function loadLpips(imageSize: number): Promise<LpipsLike & { dispose(): void }> {
  let lpips: Awaited<ReturnType<typeof loadOfflineLpips>>;
  try {
    lpips = await loadOfflineLpips();
  } catch (e) {
    throw new CliError(`cannot load the offline LPIPS network: ${(e as Error).message}`);
  }
  const [h, w] = lpips.trunkInputSize(imageSize, imageSize);
  if (h === imageSize && w === imageSize) return lpips;
  return {
    trunkName: `${lpips.trunkName} (inputs bilinearly upsampled ${imageSize} -> ${h} px)`,
    linWeights: lpips.linWeights,
    forward: (x, y) => lpips.forward(x, y),
    dispose: () => lpips.dispose(),
  };
}

/**
 * `n` images of `data` as a re-iterable source: the same n (a seeded random choice) on every pass, in
 * batches of `batchSize`.
 */
export function imageSource(
  data: LoadedData,
  n: number,
  batchSize: number,
  seed = 0,
  signal?: AbortSignal,
): () => AsyncGenerator<tf.Tensor4D> {
  if (n > data.dataset.length) {
    throw new UsageError(
      `asked for ${n} images but --data ${data.name} (${data.split}) holds ${data.dataset.length}`,
    );
  }
  return async function* () {
    const loader = new DataLoader(data.dataset, {
      batchSize,
      seed,
      shuffle: true,
      transform: data.transform,
    });
    try {
      for (let done = 0; done < n; ) {
        // Lets a Ctrl-C through between batches, and stops the evaluation that reads this source.
        await yieldToEventLoop();
        if (signal?.aborted) throw new InterruptedError('evaluation interrupted');
        const b = await loader.next();
        b.labels?.dispose();
        const take = Math.min(b.images.shape[0], n - done);
        if (take < b.images.shape[0]) {
          const part = tf.slice(b.images, 0, take);
          b.images.dispose();
          yield part as tf.Tensor4D;
        } else yield b.images;
        done += take;
      }
    } finally {
      await loader.close();
    }
  };
}

/** Shared inputs of the evaluations. */
export interface EvalContext {
  extractor: FeatureExtractor | null;
  lpips: LpipsLike | null;
  reporter: Reporter;
  batchSize: number;
  /** Ctrl-C: evaluations stop at the next batch. */
  signal?: AbortSignal;
}

/** Run `work` as the progress phases `phase` of n images; the phase ends 'failed' when it throws. */
async function inPhases<T>(
  ctx: EvalContext,
  phase: string,
  n: number,
  work: (onProgress: ReturnType<Reporter['progressPhases']>['onProgress']) => Promise<T>,
): Promise<T> {
  const p = ctx.reporter.progressPhases(phase, n);
  try {
    const r = await work(p.onProgress);
    p.end();
    return r;
  } catch (e) {
    p.end('failed');
    throw e;
  }
}

/** Reconstruction metrics of `ae` on n images of `data` (posterior mean decoded). */
export async function evalReconstruction(
  ae: Autoencoder,
  data: LoadedData,
  n: number,
  ctx: EvalContext,
  phase = 'eval-recon',
): Promise<ReconstructionResult> {
  const { extractor, lpips, batchSize, signal } = ctx;
  return inPhases(ctx, phase, n, (onProgress) => {
    const images = imageSource(data, n, batchSize, 0, signal);
    return evaluateReconstruction(ae, images, { extractor, lpips, batchSize, onProgress });
  });
}

/** Latent smoothness: reconstruction metrics with the latent perturbed by eps * std_c * noise. */
export async function evalSmoothness(
  ae: Autoencoder,
  data: LoadedData,
  n: number,
  eps: readonly number[],
  ctx: EvalContext,
  phase = 'smoothness',
): Promise<LatentSmoothnessResult> {
  const { extractor, lpips, batchSize, signal } = ctx;
  return inPhases(ctx, phase, n, (onProgress) => {
    const images = imageSource(data, n, batchSize, 1, signal);
    return latentSmoothness(ae, images, { extractor, lpips, batchSize, eps, onProgress });
  });
}

/** Sampling settings of the generation metrics. */
export interface SampleSettings {
  steps: number;
  cfg: number;
  seed: number;
}

/** FID / precision / recall of n samples of `ldm` against n images of `reference`. */
export async function evalGeneration(
  ldm: LatentDiffusion,
  reference: LoadedData,
  n: number,
  sample: SampleSettings,
  ctx: EvalContext & { extractor: FeatureExtractor },
  phase = 'eval-gen',
): Promise<GenerationResult> {
  return inPhases(ctx, phase, n, (onProgress) =>
    evaluateGeneration(
      {
        sample: async (count, batchIndex) => {
          await yieldToEventLoop();
          return ldm.sample({
            n: count,
            steps: sample.steps,
            cfg: sample.cfg > 1 ? sample.cfg : null,
            seed: sample.seed * 1_000_003 + batchIndex,
            batchSize: count,
            signal: ctx.signal,
          });
        },
      },
      imageSource(reference, n, ctx.batchSize, 2, ctx.signal),
      {
        extractor: ctx.extractor,
        numSamples: n,
        batchSize: ctx.batchSize,
        inceptionScoreSplitSize: 0,
        onProgress,
      },
    ),
  );
}
