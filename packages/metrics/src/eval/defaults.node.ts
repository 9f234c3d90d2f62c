/**
 * Node versions of the evaluations: leaving `opts.extractor` out loads the offline nsfwjs extractor for
 * the call (and disposes it afterwards); the results name it. Plus reference files by path.
 */
import { readFile, writeFile } from 'node:fs/promises';
import type { Autoencoder, ImageBatchSource } from '@ldmae/core';
import { loadOfflineFeatureExtractor } from '../features/load.node.js';
import {
  type EvaluateReconstructionOptions,
  type ReconstructionResult,
  runReconstruction,
} from './evaluate-reconstruction.js';
import type { FeatureReference } from './feature-set.js';
import {
  type EvaluateGenerationOptions,
  type GenerationResult,
  type GenerationSampler,
  runGeneration,
} from './generation.js';
import { type ReferenceNpzOptions, referenceFromNpz, referenceToNpz } from './reference-npz.js';
import {
  type LatentSmoothnessOptions,
  type LatentSmoothnessResult,
  runLatentSmoothness,
} from './smoothness.js';

const offline = () => loadOfflineFeatureExtractor();

/** {@link evaluateReconstruction} whose extractor defaults to the offline nsfwjs one. */
export function evaluateReconstruction(
  autoencoder: Autoencoder,
  data: ImageBatchSource,
  opts: EvaluateReconstructionOptions = {},
): Promise<ReconstructionResult> {
  return runReconstruction(autoencoder, data, opts, offline);
}

/** {@link latentSmoothness} whose extractor defaults to the offline nsfwjs one. */
export function latentSmoothness(
  autoencoder: Autoencoder,
  data: ImageBatchSource,
  opts: LatentSmoothnessOptions = {},
): Promise<LatentSmoothnessResult> {
  return runLatentSmoothness(autoencoder, data, opts, offline);
}

/** {@link evaluateGeneration} whose extractor defaults to the offline nsfwjs one. */
export function evaluateGeneration(
  samples: ImageBatchSource | GenerationSampler,
  reference: FeatureReference | ImageBatchSource,
  opts: EvaluateGenerationOptions = {},
): Promise<GenerationResult> {
  return runGeneration(samples, reference, opts, offline);
}

/** {@link referenceFromNpz} of a file, e.g. ADM's VIRTUAL_imagenet256_labeled.npz (read whole: its arr_0 is ~2 GB). */
export async function readReferenceNpz(
  path: string,
  opts: ReferenceNpzOptions = {},
): Promise<FeatureReference> {
  return referenceFromNpz(new Uint8Array(await readFile(path)), opts);
}

/** Writes {@link referenceToNpz}'s bytes to `path`. */
export async function writeReferenceNpz(
  path: string,
  ref: FeatureReference,
  opts: { compress?: boolean } = {},
): Promise<void> {
  await writeFile(path, referenceToNpz(ref, opts));
}
