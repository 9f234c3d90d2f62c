/**
 * A small checkpoint in the layout `ldmae quickstart --out DIR` writes, made in Node for the tests:
 * a tiny VMAE (`f4d4-tiny`, the quickstart's preset) trained a few steps on the bundled digits and
 * saved as vmae/autoencoder.safetensors; latents/cache-info.json with the per-channel latent
 * normalisation; a class-conditional LightningDiT (Nano blocks, narrower) trained a few steps with
 * DiffusionTrainer and saved by core's saveCheckpoint as ldm/checkpoint/{meta.json, the weights it names}
 * with the LdmCheckpointInfo of `train-ldm` (@ldmae/diffusion) in its config; the pipeline folder
 * ldm/pipeline/ that `train-ldm` writes beside it (LatentDiffusion.save with the EMA weights, Euler
 * with shift 0.3, the image shape, classes and how it was made), saved into core's memoryFolder and
 * written out; and config.json.
 */
import { mkdir, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { createRng, type LatentNormalization, memoryFolder, saveCheckpoint } from '@ldmae/core';
import { DiffusionTrainer, FlowEulerScheduler, LatentDiffusion, LightningDiT } from '@ldmae/diffusion';
import { createVMAE, saveVMAE, trainVMAE } from '@ldmae/vmae';
import * as tf from '@tensorflow/tfjs-core';
import { bundledDigits, greyToRgb } from '../src/images.js';

/** What {@link makeCheckpoint} wrote. */
export interface MadeCheckpoint {
  dir: string;
  normalization: LatentNormalization;
  aeLosses: number[];
  ldmLosses: number[];
}

/** Write the checkpoint into `dir` (the backend must be set up). */
export async function makeCheckpoint(dir: string, opts: { aeSteps?: number; ldmSteps?: number } = {}) {
  const digits = bundledDigits();
  const host = greyToRgb(digits.images, digits.size);
  const images = tf.tensor4d(host.data, host.shape);
  const vmae = createVMAE('f4d4-tiny', { imgSize: 28 }, { inputRange: 'clamp' });
  const labels = tf.tensor1d(Int32Array.from(digits.labels), 'int32');
  let denoiser: LightningDiT | null = null;
  let trainer: DiffusionTrainer | null = null;
  try {
    const ae = await trainVMAE({
      model: vmae,
      data: () => images.clone(),
      steps: opts.aeSteps ?? 3,
      batchSize: host.shape[0],
      lr: 2e-3,
      warmupSteps: 0,
      seed: 0,
    });
    await mkdir(join(dir, 'vmae'), { recursive: true });
    await saveVMAE(join(dir, 'vmae', 'autoencoder.safetensors'), vmae);

    // The latent cache's normalisation: per-channel mean and 1 / std of posterior samples.
    const rng = createRng(1);
    const latents = tf.tidy(() => vmae.encode(images).sample(rng)) as tf.Tensor4D;
    const [, lh, lw, lc] = latents.shape;
    const rows = latents.reshape([-1, lc]);
    const flat = (await rows.array()) as number[][];
    rows.dispose();
    const shift = Array.from({ length: lc }, (_, k) => flat.reduce((s, r) => s + r[k], 0) / flat.length);
    const scale = shift.map(
      (m, k) => 1 / Math.sqrt(Math.max(flat.reduce((s, r) => s + (r[k] - m) ** 2, 0) / flat.length, 1e-12)),
    );
    const normalization: LatentNormalization = { shift, scale };
    await mkdir(join(dir, 'latents'), { recursive: true });
    await writeFile(
      join(dir, 'latents', 'cache-info.json'),
      JSON.stringify({
        normalization,
        normalizationCount: flat.length / (lh * lw),
        autoencoder: 'vmae/autoencoder.safetensors',
      }),
    );

    denoiser = new LightningDiT(
      {
        preset: 'LightningDiT-Nano/1',
        inputSize: [lh, lw],
        inChannels: lc,
        numClasses: 10,
        classDropoutProb: 0.1,
        hiddenSize: 32,
        numHeads: 2,
        rope: true,
      },
      { seed: 0 },
    );
    trainer = new DiffusionTrainer({ denoiser, lr: 3e-3, ema: 0.9, seed: 0, labelDropout: 0.1 });
    const normed = tf.tidy(() => latents.sub(tf.tensor1d(shift)).mul(tf.tensor1d(scale))) as tf.Tensor4D;
    latents.dispose();
    const info = {
      cache: 'latents',
      autoencoder: 'vmae/autoencoder.safetensors',
      normalization,
      latentShape: [lh, lw, lc],
      imageShape: [28, 28, 3],
      numClasses: 10,
      classes: digits.labels.length ? ['0', '1', '2', '3', '4', '5', '6', '7', '8', '9'] : null,
    };
    const ldmSteps = opts.ldmSteps ?? 3;
    const ldm = await trainer.train({
      data: { next: async () => ({ latents: normed.clone(), labels: labels.clone() }) },
      steps: ldmSteps,
      checkpoint: { every: ldmSteps, save: (p) => saveCheckpoint(join(dir, 'ldm', 'checkpoint'), p) },
      config: info,
    });
    normed.dispose();
    // The pipeline folder, as `train-ldm` writes it (the trained weights and the EMA, EMA by default).
    const pipe = new LatentDiffusion({
      autoencoder: vmae,
      denoiser,
      normalization,
      scheduler: new FlowEulerScheduler({ shift: 0.3 }),
      prediction: 'velocity',
    });
    const folder = memoryFolder({}, 'ldm/pipeline');
    await pipe.save(folder, {
      ...(trainer.ema ? { ema: trainer.ema } : {}),
      imageShape: [28, 28, 3],
      classes: info.classes,
      training: {
        command: 'makeCheckpoint (playground test)',
        'latent cache': info.cache,
        autoencoder: info.autoencoder,
        steps: ldmSteps,
      },
    });
    await mkdir(join(dir, 'ldm', 'pipeline'), { recursive: true });
    for (const [name, bytes] of Object.entries(folder.files()))
      await writeFile(join(dir, 'ldm', 'pipeline', name), bytes);
    await writeFile(
      join(dir, 'config.json'),
      JSON.stringify({ command: 'quickstart', note: 'a small checkpoint made by the playground test' }),
    );
    return { dir, normalization, aeLosses: ae.losses, ldmLosses: ldm.losses } satisfies MadeCheckpoint;
  } finally {
    trainer?.dispose();
    denoiser?.dispose();
    vmae.dispose();
    images.dispose();
    labels.dispose();
  }
}
