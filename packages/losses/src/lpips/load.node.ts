/** Node-only: build an LPIPS from weight files (lin weights by path, the offline trunk from nsfwjs). */
import { readFile } from 'node:fs/promises';
import { formatFromPath, parseTensorFile, toTfTensors } from '@ldmae/core';
import type * as tf from '@tensorflow/tfjs-core';
import type { InceptionTrunkOptions } from './inception-trunk.js';
import { Lpips, type LpipsResizeOptions } from './lpips.js';
import { loadNsfwjsInceptionTrunk } from './nsfwjs-files.node.js';
import type { LpipsTrunk } from './trunk.js';

/**
 * Read a tensor file (.pth in the zip or legacy pickle format, .safetensors, .npz) into tf tensors the
 * caller owns, e.g. the lpips `vgg.pth` lin weights or a torchvision checkpoint.
 */
export async function readTensorDict(path: string): Promise<Record<string, tf.Tensor>> {
  const bytes = new Uint8Array(await readFile(path));
  return toTfTensors(parseTensorFile(bytes, formatFromPath(path)).tensors);
}

/** Options of {@link loadLpips}: the lin weights, and how images smaller than the trunk takes are treated. */
export interface LoadLpipsOptions extends LpipsResizeOptions {
  /** 'uniform', a path to an lpips lin-weight file (e.g. `vgg.pth`), or a state dict. */
  lin: 'uniform' | string | Record<string, tf.Tensor>;
  /** What the lin weights are; default 'learned-v0.1'. */
  linKind?: 'learned-v0.1' | 'custom';
}

/** An {@link Lpips} on `trunk` with lin weights from a file or dict. The result owns the trunk. */
export async function loadLpips(trunk: LpipsTrunk, opts: LoadLpipsOptions): Promise<Lpips> {
  if (typeof opts?.lin !== 'string' || opts.lin === 'uniform')
    return new Lpips(trunk, opts as { lin: 'uniform' });
  const dict = await readTensorDict(opts.lin);
  try {
    return new Lpips(trunk, { ...opts, lin: dict });
  } finally {
    for (const t of Object.values(dict)) t.dispose();
  }
}

/** Options of {@link loadOfflineLpips}: the trunk's taps, and how small images are treated. */
export interface OfflineLpipsOptions extends InceptionTrunkOptions, LpipsResizeOptions {}

/**
 * The offline default: LPIPS on the 'nsfwjs-inceptionv3-early' trunk with uniform lin weights (the
 * released lin weights were trained for VGG / AlexNet / SqueezeNet taps and do not apply to it).
 * The trunk takes images of at least 43 px; smaller ones (28 px digits) are bilinearly upsampled to
 * 64 px unless `resize: 'none'` (see {@link LpipsResizeOptions}).
 */
export async function loadOfflineLpips(opts: OfflineLpipsOptions = {}): Promise<Lpips> {
  const { resize, upsampleTo, ...trunkOpts } = opts ?? {};
  const trunk = await loadNsfwjsInceptionTrunk(trunkOpts);
  try {
    return new Lpips(trunk, { lin: 'uniform', resize, upsampleTo });
  } catch (e) {
    trunk.dispose();
    throw e;
  }
}
