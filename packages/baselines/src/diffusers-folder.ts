/**
 * A diffusers VAE folder (`config.json` beside `diffusion_pytorch_model.safetensors`, e.g. the `vae/`
 * folder of SD3) read from any {@link FolderSource}: a local folder in Node, files fetched or picked
 * in a browser.
 */
import { type FolderSource, parseTensorFile, toTfTensors } from '@ldmae/core';
import * as tf from '@tensorflow/tfjs-core';
import type { AutoencoderKL } from './autoencoder-kl.js';
import {
  autoencoderKLConfigFromDiffusers,
  autoencoderKLFromStateDict,
  type FromStateDictOptions,
  scalingFactorNormalization,
  type VaeLoadReport,
} from './import.js';

/** Weight files a diffusers VAE folder may hold, in order of preference. */
export const DIFFUSERS_VAE_WEIGHT_FILES: readonly string[] = [
  'diffusion_pytorch_model.safetensors',
  'diffusion_pytorch_model.bin',
  'model.safetensors',
];

/** Options of {@link autoencoderKLFromFolder}. */
export interface AutoencoderKLFolderOptions extends FromStateDictOptions {
  /** Keep only tensors under this prefix of the weights file. */
  select?: string;
  /**
   * Set `latentNormalization` from config.json's `scaling_factor` / `shift_factor` (SD3:
   * (z - 0.0609) * 1.5305). Default true when the folder has a config.json.
   */
  useScalingFactor?: boolean;
}

/**
 * An AutoencoderKL from a diffusers VAE folder: the architecture from `config.json` (read off the
 * weights' shapes when there is none), the weights from the first of
 * {@link DIFFUSERS_VAE_WEIGHT_FILES} present, loaded strictly. The caller owns the model.
 */
export async function autoencoderKLFromFolder(
  folder: FolderSource,
  opts: AutoencoderKLFolderOptions = {},
): Promise<{ model: AutoencoderKL; report: VaeLoadReport; file: string }> {
  const loc = folder.location;
  let name: string | undefined;
  let bytes: Uint8Array | null = null;
  for (const n of DIFFUSERS_VAE_WEIGHT_FILES) {
    bytes = await folder.read(n);
    if (bytes) {
      name = n;
      break;
    }
  }
  if (!bytes || !name)
    throw new Error(
      `loadAutoencoderKL: folder '${loc}' holds none of ${DIFFUSERS_VAE_WEIGHT_FILES.join(', ')}`,
    );
  let o: FromStateDictOptions = { ...opts };
  const cfg = await folder.read('config.json');
  if (cfg) {
    let json: unknown;
    try {
      json = JSON.parse(new TextDecoder().decode(cfg));
    } catch (e) {
      throw new Error(`loadAutoencoderKL: '${loc}/config.json' is not valid JSON (${(e as Error).message})`);
    }
    const parsed = autoencoderKLConfigFromDiffusers(json);
    o = { ...o, config: opts.config ?? parsed.config };
    if (
      (opts.useScalingFactor ?? true) &&
      parsed.scalingFactor !== null &&
      opts.latentNormalization === undefined
    )
      o.latentNormalization = scalingFactorNormalization(
        parsed.scalingFactor,
        parsed.shiftFactor,
        parsed.config.latentChannels,
      );
  }
  const contents = parseTensorFile(
    bytes,
    undefined,
    opts.select === undefined ? {} : { select: opts.select },
  );
  const tensors = toTfTensors(contents.tensors);
  try {
    const { model, report } = autoencoderKLFromStateDict(tensors, o);
    return { model, report, file: `${loc}/${name}` };
  } finally {
    tf.dispose(Object.values(tensors));
  }
}
