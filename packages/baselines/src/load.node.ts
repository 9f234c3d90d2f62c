/** Node: load a VAE from files (a safetensors / .pth file, or a diffusers model folder). */
import { stat } from 'node:fs/promises';
import { join } from 'node:path';
import { loadCheckpoint, localFolder, readTensorFile, toTfTensors } from '@ldmae/core';
import * as tf from '@tensorflow/tfjs-core';
import type { AutoencoderKL } from './autoencoder-kl.js';
import { autoencoderKLFromCheckpoint, parseBaselineCheckpointConfig } from './checkpoint.js';
import { type AutoencoderKLFolderOptions, autoencoderKLFromFolder } from './diffusers-folder.js';
import { autoencoderKLFromStateDict, type VaeLoadReport } from './import.js';

/** Options of {@link loadAutoencoderKL}. */
export interface LoadAutoencoderKLOptions extends AutoencoderKLFolderOptions {}

async function isDir(path: string): Promise<boolean> {
  try {
    return (await stat(path)).isDirectory();
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === 'ENOENT') {
      throw new Error(
        `loadAutoencoderKL: no file or folder '${path}' (expected a VAE weight file or a diffusers vae/ folder)`,
      );
    }
    throw e;
  }
}

/**
 * Load an AutoencoderKL from `path`: a baseline saved by LDMAE (`ldmae train-ae --model ae|dae|vae|sd-vae`:
 * its `autoencoder.safetensors`, or its `checkpoint/` folder), built with the architecture and latent
 * normalisation it records; a tensor file (.safetensors, .pth / .pt / .bin / .ckpt) holding a VAE state
 * dict in diffusers, older diffusers or LDM names, bare or under a prefix (an SD single-file
 * checkpoint's `first_stage_model.`); or a diffusers folder with `config.json` and
 * `diffusion_pytorch_model.safetensors` (e.g. the `vae/` folder of SD3). Without a config the
 * architecture is read off the weights' shapes.
 *
 * @example
 * const { model } = await loadAutoencoderKL('stable-diffusion-3-medium-diffusers/vae', { name: 'sd3-vae' });
 */
export async function loadAutoencoderKL(
  path: string,
  opts: LoadAutoencoderKLOptions = {},
): Promise<{ model: AutoencoderKL; report: VaeLoadReport; file: string }> {
  if (typeof path !== 'string' || !path)
    throw new TypeError('loadAutoencoderKL: path must be a file or folder path');
  const dir = await isDir(path);
  if (dir && (await stat(join(path, 'meta.json')).catch(() => null))) {
    // An LDMAE checkpoint folder (meta.json and the weights it names).
    return fromLdmaeCheckpoint(path, await loadCheckpoint(path));
  }
  if (dir) {
    const r = await autoencoderKLFromFolder(localFolder(path), opts);
    return { ...r, file: join(path, r.file.slice(path.length + 1)) };
  }
  const contents = await readTensorFile(path, opts.select === undefined ? {} : { select: opts.select });
  const metadata = contents.metadata ?? {};
  const baseline =
    opts.select === undefined && parseBaselineCheckpointConfig(metadata, `loadAutoencoderKL: '${path}'`);
  const tensors = toTfTensors(contents.tensors);
  if (baseline) return fromLdmaeCheckpoint(path, { tensors, metadata });
  try {
    const { model, report } = autoencoderKLFromStateDict(tensors, opts);
    return { model, report, file: path };
  } finally {
    tf.dispose(Object.values(tensors));
  }
}

/** A baseline checkpoint of LDMAE: rebuilt from its recorded config (the payload is released). */
function fromLdmaeCheckpoint(
  file: string,
  payload: { tensors: Record<string, tf.Tensor>; metadata: Record<string, string> },
): { model: AutoencoderKL; report: VaeLoadReport; file: string } {
  try {
    const { model } = autoencoderKLFromCheckpoint(payload, `loadAutoencoderKL: '${file}'`);
    // The weights are the model's own (diffusers names under 'model.'); nothing else is a VAE weight.
    const prefix = Object.keys(payload.tensors).some((k) => k.startsWith('model.autoencoder.'))
      ? 'model.autoencoder.'
      : 'model.';
    const ignored = Object.keys(payload.tensors).filter((k) => !k.startsWith(prefix));
    const report: VaeLoadReport = { layout: 'diffusers', prefix, ignored, missing: [], unexpected: [] };
    return { model, report, file };
  } finally {
    tf.dispose(Object.values(payload.tensors));
  }
}
