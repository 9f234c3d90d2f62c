/**
 * The VMAE as a registered autoencoder kind: importing @ldmae/vmae lets core's `loadAutoencoder` read
 * VMAE checkpoints (`config.format` 'ldmae-vmae', saved models and training checkpoints) and the
 * authors' released `.pth` files, and lets `saveAutoencoder` / pipelines save a VMAE.
 */
import {
  type Autoencoder,
  type ModelImporter,
  type ModelKind,
  parsePth,
  registerAutoencoderImporter,
  registerAutoencoderKind,
} from '@ldmae/core';
import {
  fromLdmae,
  fromReference,
  type LoadVMAEOptions,
  VMAE_CHECKPOINT_FORMAT,
  vmaePayload,
} from './checkpoint.js';
import { VMAE } from './vmae.js';

/**
 * The VMAE's checkpoint kind. Load options: those of `loadVMAE` (`inputRange`, `strict`,
 * `patchEmbedImpl`).
 */
export const vmaeAutoencoderKind: ModelKind<Autoencoder> = {
  format: VMAE_CHECKPOINT_FORMAT,
  description: 'VMAE (@ldmae/vmae)',
  owns: (model) => model instanceof VMAE,
  toPayload: (model) => vmaePayload(model as VMAE),
  fromCheckpoint: (c, opts) => fromLdmae(c, opts as LoadVMAEOptions, c.location).model,
};

const isPth = (b: Uint8Array) =>
  (b[0] === 0x50 && b[1] === 0x4b) || (b[0] === 0x80 && b[1] >= 2 && b[1] <= 5);

/**
 * The authors' PyTorch checkpoints (e.g. the released `vmaef8d16.pth`): a `.pth` whose state dict has
 * the VMAE's decoder embedding. Load options: those of `loadVMAE` (`preset`, `numHeads`, `strict`, ...).
 */
export const vmaeReferenceImporter: ModelImporter<Autoencoder> = {
  description: "the authors' VMAE .pth (@ldmae/vmae)",
  detect: ({ bytes }) => {
    if (!bytes || !isPth(bytes)) return false;
    try {
      // Only names: no storage is read.
      const { skipped } = parsePth(bytes, { unknownGlobals: 'stub', only: () => false });
      return skipped.some((k) => /(^|\.)decoder_embed\.weight$/.test(k));
    } catch {
      return false;
    }
  },
  load: ({ bytes }, opts) => fromReference(bytes as Uint8Array, opts as LoadVMAEOptions).model,
};

registerAutoencoderKind(vmaeAutoencoderKind);
registerAutoencoderImporter(vmaeReferenceImporter);
