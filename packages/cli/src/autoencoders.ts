/**
 * The autoencoders the CLI trains and loads: the VMAE (@ldmae/vmae presets) and the paper's baselines
 * AE, DAE, VAE, SD-VAE (@ldmae/baselines presets), saved as LDMAE checkpoints (one `.safetensors` file
 * or a folder) whose metadata says which kind and configuration they hold, so every other command
 * takes just the path.
 */
import { stat } from 'node:fs/promises';
import {
  AUTOENCODER_KL_PRESETS,
  type AutoencoderKLPresetName,
  autoencoderKLConfig,
  BASELINE_KINDS,
  type BaselineKind,
  createBaseline,
  DEFAULT_BASELINE_PRESET,
  downsamplingFactor,
} from '@ldmae/baselines';
import { type Autoencoder, createRng, loadAutoencoder as loadAnyAutoencoder } from '@ldmae/core';
import {
  createVMAE,
  DEFAULT_VMAE_PRESET,
  resolveVMAEConfig,
  VMAE,
  VMAE_PRESETS,
  type VMAEPresetName,
} from '@ldmae/vmae';
import { CliError, UsageError } from './errors.js';

/** Autoencoder kinds of `--model`. */
export type AutoencoderKind = 'vmae' | BaselineKind;

/** Every kind, VMAE first. */
export const AUTOENCODER_KINDS: readonly AutoencoderKind[] = ['vmae', ...BASELINE_KINDS];

/**
 * Default preset of each kind: the libraries' defaults (`DEFAULT_VMAE_PRESET`,
 * `DEFAULT_BASELINE_PRESET`, both 'f4d4-tiny'), sized for a 2-core CPU and 28 px digits.
 */
export const DEFAULT_PRESET: Readonly<Record<AutoencoderKind, string>> = {
  vmae: DEFAULT_VMAE_PRESET,
  ae: DEFAULT_BASELINE_PRESET,
  dae: DEFAULT_BASELINE_PRESET,
  vae: DEFAULT_BASELINE_PRESET,
  'sd-vae': DEFAULT_BASELINE_PRESET,
};

/** Check `kind` and `preset` (UsageError listing the choices). */
export function checkModelChoice(kind: string, preset: string): asserts kind is AutoencoderKind {
  if (!AUTOENCODER_KINDS.includes(kind as AutoencoderKind))
    throw new UsageError(`--model must be one of ${AUTOENCODER_KINDS.join(', ')}, got '${kind}'`);
  const names = Object.keys(kind === 'vmae' ? VMAE_PRESETS : AUTOENCODER_KL_PRESETS);
  if (!names.includes(preset)) {
    throw new UsageError(
      `--preset '${preset}' is not a ${kind} preset`,
      `${kind} presets: ${names.join(', ')}`,
    );
  }
}

/**
 * Check, from the configuration alone (no weights are made), that `kind` / `preset` takes square images
 * of side `imageSize`. UsageError otherwise.
 */
export function checkModelFits(kind: string, preset: string, imageSize: number): void {
  checkModelChoice(kind, preset);
  try {
    if (kind === 'vmae') resolveVMAEConfig(preset as VMAEPresetName, { imgSize: imageSize });
    else {
      const f = downsamplingFactor(autoencoderKLConfig(preset as AutoencoderKLPresetName));
      if (imageSize % f !== 0)
        throw new Error(`the image side must be a multiple of ${f} (the downsampling factor)`);
    }
  } catch (e) {
    throw new UsageError(
      `cannot build ${kind} '${preset}' for ${imageSize} px images: ${(e as Error).message}`,
    );
  }
}

/** A new, randomly initialised autoencoder of `kind` / `preset` for square images of side `imageSize`. */
export function createAutoencoder(
  kind: AutoencoderKind,
  preset: string,
  imageSize: number,
  seed: number,
): Autoencoder {
  checkModelChoice(kind, preset);
  try {
    if (kind === 'vmae')
      return createVMAE(
        preset as VMAEPresetName,
        { imgSize: imageSize },
        { inputRange: 'clamp', rng: createRng(seed) },
      );
    const ae = createBaseline(kind, { preset: preset as AutoencoderKLPresetName, seed });
    ae.latentShape([imageSize, imageSize, 3]); // throws when the size does not fit the downsampling
    return ae;
  } catch (e) {
    throw new UsageError(
      `cannot build ${kind} '${preset}' for ${imageSize} px images: ${(e as Error).message}`,
    );
  }
}

/** The kind of an autoencoder made by this package. */
export function kindOf(ae: Autoencoder): AutoencoderKind {
  if (ae instanceof VMAE) return 'vmae';
  const k = ae.name as AutoencoderKind;
  return AUTOENCODER_KINDS.includes(k) ? k : 'vae';
}

/** What {@link loadAutoencoder} returns. */
export interface LoadedAutoencoder {
  ae: Autoencoder;
  kind: AutoencoderKind;
  /** Training step when the file is a training checkpoint (0 for a saved model). */
  step: number;
}

/**
 * Load any autoencoder @ldmae/core's `loadAutoencoder` reads (the kinds @ldmae/vmae and
 * @ldmae/baselines register): an autoencoder saved by this CLI or a training checkpoint of `train-ae`,
 * the autoencoder of a pipeline folder, a reference VMAE `.pth`, or a diffusers VAE folder. Every failure
 * is a CliError that names the path and says what was expected; a file that fails its checks never
 * half-loads a model.
 */
export async function loadAutoencoder(path: string, what = '--ae'): Promise<LoadedAutoencoder> {
  const st = await stat(path).catch(() => null);
  if (!st)
    throw new CliError(`${what}: '${path}' does not exist`, {
      hint: 'train one with `ldmae train-ae` (or run `ldmae quickstart`)',
    });
  try {
    const r = await loadAnyAutoencoder(path, { inputRange: 'clamp' });
    return { ae: r.model, kind: kindOf(r.model), step: r.step };
  } catch (e) {
    throw new CliError(
      `${what}: cannot load an autoencoder from '${path}': ${(e as Error).message.replace(/^loadAutoencoder: /, '')}`,
      {
        hint: 'the file is missing, corrupt or of another kind; retrain it with `ldmae train-ae`, or resume that run with --resume',
      },
    );
  }
}
