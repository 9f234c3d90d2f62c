/**
 * The baselines as a registered autoencoder kind: importing @ldmae/baselines lets core's
 * `loadAutoencoder` read AE / DAE / VAE / SD-VAE checkpoints (`config.format` 'ldmae-baseline', saved
 * models and training checkpoints) and diffusers VAE folders, and lets `saveAutoencoder` / pipelines
 * save an AutoencoderKL.
 */
import {
  type Autoencoder,
  type HostTensorDict,
  type ModelImporter,
  type ModelKind,
  makeCheckpointPayload,
  registerAutoencoderImporter,
  registerAutoencoderKind,
  toTfTensors,
} from '@ldmae/core';
import * as tf from '@tensorflow/tfjs-core';
import { AutoencoderKL } from './autoencoder-kl.js';
import {
  autoencoderKLFromCheckpoint,
  BASELINE_CHECKPOINT_FORMAT,
  baselineCheckpointConfig,
} from './checkpoint.js';
import { type AutoencoderKLFolderOptions, autoencoderKLFromFolder } from './diffusers-folder.js';
import { BASELINE_KINDS, type BaselineKind } from './variants.js';

/** The baseline kind of a model: its name when that is one, else by its posterior. */
function baselineKindOf(ae: AutoencoderKL): BaselineKind {
  if (BASELINE_KINDS.includes(ae.name as BaselineKind)) return ae.name as BaselineKind;
  return ae.posteriorKind === 'gaussian' ? 'sd-vae' : 'ae';
}

/** The baselines' checkpoint kind (no load options). */
export const baselineAutoencoderKind: ModelKind<Autoencoder> = {
  format: BASELINE_CHECKPOINT_FORMAT,
  description: 'AE / DAE / VAE / SD-VAE (@ldmae/baselines)',
  owns: (model) => model instanceof AutoencoderKL,
  toPayload: (model) => {
    const ae = model as AutoencoderKL;
    return makeCheckpointPayload({
      model: ae,
      step: 0,
      config: baselineCheckpointConfig(ae, baselineKindOf(ae)),
    });
  },
  fromCheckpoint: (c) => {
    // Only the autoencoder's weights are uploaded (a training checkpoint also holds optimiser moments).
    const prefix = Object.keys(c.tensors).some((k) => k.startsWith('model.autoencoder.'))
      ? 'model.autoencoder.'
      : 'model.';
    const keep: HostTensorDict = {};
    for (const [k, t] of Object.entries(c.tensors)) if (k.startsWith(prefix)) keep[k] = t;
    const tensors = toTfTensors(keep);
    try {
      return autoencoderKLFromCheckpoint({ tensors, metadata: c.metadata }, `'${c.location}'`).model;
    } finally {
      tf.dispose(Object.values(tensors));
    }
  },
};

/**
 * Diffusers VAE folders (`config.json` with `_class_name` 'AutoencoderKL' and the weights). Load
 * options: those of `autoencoderKLFromFolder` (`useScalingFactor`, `name`, ...).
 */
export const diffusersVaeImporter: ModelImporter<Autoencoder> = {
  description: 'diffusers AutoencoderKL folders (@ldmae/baselines)',
  detect: async ({ folder }) => {
    if (!folder) return false;
    const cfg = await folder.read('config.json');
    if (!cfg) return false;
    try {
      return JSON.parse(new TextDecoder().decode(cfg))._class_name === 'AutoencoderKL';
    } catch {
      return false;
    }
  },
  load: async ({ folder }, opts) =>
    (await autoencoderKLFromFolder(folder as NonNullable<typeof folder>, opts as AutoencoderKLFolderOptions))
      .model,
};

registerAutoencoderKind(baselineAutoencoderKind);
registerAutoencoderImporter(diffusersVaeImporter);
