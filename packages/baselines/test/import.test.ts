import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import {
  fromTfTensors,
  parseTensorFile,
  serializePth,
  serializeSafetensors,
  setupBackend,
  toTfTensors,
} from '@ldmae/core';
import * as tf from '@tensorflow/tfjs-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  AutoencoderKL,
  autoencoderKLConfigFromDiffusers,
  autoencoderKLFromStateDict,
  autoencoderKLParameterCount,
  inferAutoencoderKLConfig,
  loadAutoencoderKL,
  loadVaeStateDict,
  vaeKeyMapping,
} from '../src/index.node.js';

const FIXTURES = new URL('./fixtures/', import.meta.url).pathname;
const DIFFUSERS_FILE = join(FIXTURES, 'vae-tiny-diffusers.safetensors');
const LDM_FILE = join(FIXTURES, 'vae-tiny-ldm.npz');
/** The fixture's model (make_vae_reference.py CFG), in our terms. */
const CONFIG = {
  inChannels: 3,
  outChannels: 3,
  blockOutChannels: [8, 16],
  layersPerBlock: 1,
  latentChannels: 4,
  normNumGroups: 4,
  useQuantConv: true,
  usePostQuantConv: true,
  midBlockAddAttention: true,
};

const nhwc = (t: tf.Tensor) => tf.transpose(t, [0, 2, 3, 1]) as tf.Tensor4D;
let ref: Record<string, tf.Tensor>;
let dir: string;

function maxAbsDiff(a: tf.Tensor, b: tf.Tensor): number {
  return tf.tidy(() => tf.max(tf.abs(tf.sub(a, b))).dataSync()[0]);
}

/** Our moments and decoded image on the fixture's inputs vs numpy's, as max abs differences. */
function compare(model: AutoencoderKL): { moments: number; image: number } {
  return tf.tidy(() => {
    const moments = model.moments(nhwc(ref['input.x']));
    const image = model.decode(nhwc(ref['input.z']));
    return {
      moments: maxAbsDiff(moments, nhwc(ref['output.moments'])),
      image: maxAbsDiff(image, nhwc(ref['output.image'])),
    };
  });
}

beforeAll(async () => {
  await setupBackend({ backend: 'wasm' });
  ref = toTfTensors(parseTensorFile(readFileSync(DIFFUSERS_FILE)).tensors);
  dir = mkdtempSync(join(tmpdir(), 'ldmae-baselines-import-'));
});

afterAll(() => {
  tf.dispose(Object.values(ref));
  rmSync(dir, { recursive: true, force: true });
});

describe('the numpy reference of diffusers AutoencoderKL (test/fixtures/make_vae_reference.py)', () => {
  it('has the parameter count we derive, and its config is read off its shapes', () => {
    const weights = Object.entries(ref).filter(([k]) => !k.startsWith('input.') && !k.startsWith('output.'));
    expect(weights.reduce((a, [, t]) => a + t.size, 0)).toBe(43711);
    expect(autoencoderKLParameterCount(CONFIG)).toBe(43711);
    const shapes = Object.fromEntries(weights.map(([k, t]) => [k, t.shape]));
    expect(inferAutoencoderKLConfig(shapes, 4)).toEqual(CONFIG);
  });

  it('loads by diffusers names and reproduces the reference encoder moments and decoder output', async () => {
    const { model, report } = await loadAutoencoderKL(DIFFUSERS_FILE, { normNumGroups: 4 });
    expect(report.layout).toBe('diffusers');
    expect(report.prefix).toBe('');
    expect(report.ignored.sort()).toEqual(['input.x', 'input.z', 'output.image', 'output.moments']);
    expect(report.missing).toEqual([]);
    expect(model.config).toEqual(CONFIG);
    const d = compare(model);
    expect(d.moments).toBeLessThan(2e-4);
    expect(d.image).toBeLessThan(2e-4);
    model.dispose();
  });

  it('loads the same weights under LDM / SD names (1x1-conv attention, first_stage_model. prefix) from .npz', async () => {
    const { model, report } = await loadAutoencoderKL(LDM_FILE, { normNumGroups: 4 });
    expect(report.layout).toBe('ldm');
    expect(report.prefix).toBe('first_stage_model.');
    expect(report.ignored).toEqual(['model_ema.decay']);
    const d = compare(model);
    expect(d.moments).toBeLessThan(2e-4);
    expect(d.image).toBeLessThan(2e-4);
    model.dispose();
  });

  it('accepts the older diffusers attention names (query / key / value / proj_attn)', () => {
    const legacy: Record<string, tf.Tensor> = {};
    for (const [k, t] of Object.entries(ref)) {
      legacy[
        k
          .replace('.to_q.', '.query.')
          .replace('.to_k.', '.key.')
          .replace('.to_v.', '.value.')
          .replace('.to_out.0.', '.proj_attn.')
      ] = t;
    }
    expect(Object.keys(legacy).some((k) => k.includes('.proj_attn.'))).toBe(true);
    const model = new AutoencoderKL({ config: CONFIG, seed: 3 });
    const before = tf.memory().numTensors;
    const report = loadVaeStateDict(model, legacy, { strict: false });
    expect(tf.memory().numTensors).toBe(before);
    expect(report.layout).toBe('diffusers-legacy');
    expect(report.missing).toEqual([]);
    expect(report.unexpected).toEqual([]);
    expect(compare(model).image).toBeLessThan(2e-4);
    model.dispose();
  });

  it('round-trips our state dict through .pth and a diffusers folder with config.json (scaling factor applied)', async () => {
    const src = new AutoencoderKL({ config: CONFIG, seed: 11 });
    const sd = src.stateDict();
    const host = await fromTfTensors(sd);
    tf.dispose(Object.values(sd));
    writeFileSync(join(dir, 'vae.pth'), serializePth(host));
    const { model: fromPth } = await loadAutoencoderKL(join(dir, 'vae.pth'), { normNumGroups: 4 });
    const x = nhwc(ref['input.x']);
    const a = src.reconstruct(x);
    const b = fromPth.reconstruct(x);
    expect(maxAbsDiff(a, b)).toBe(0);

    const folder = join(dir, 'vae');
    rmSync(folder, { recursive: true, force: true });
    mkdirSync(folder);
    writeFileSync(join(folder, 'diffusion_pytorch_model.safetensors'), serializeSafetensors(host));
    writeFileSync(
      join(folder, 'config.json'),
      JSON.stringify({
        _class_name: 'AutoencoderKL',
        block_out_channels: [8, 16],
        down_block_types: ['DownEncoderBlock2D', 'DownEncoderBlock2D'],
        up_block_types: ['UpDecoderBlock2D', 'UpDecoderBlock2D'],
        layers_per_block: 1,
        latent_channels: 4,
        norm_num_groups: 4,
        scaling_factor: 1.5305,
        shift_factor: 0.0609,
      }),
    );
    const { model: fromFolder, file } = await loadAutoencoderKL(folder);
    expect(file.endsWith('diffusion_pytorch_model.safetensors')).toBe(true);
    expect(fromFolder.latentNormalization?.scale).toEqual([1.5305, 1.5305, 1.5305, 1.5305]);
    expect(fromFolder.latentNormalization?.shift).toEqual([0.0609, 0.0609, 0.0609, 0.0609]);
    const c = fromFolder.reconstruct(x);
    expect(maxAbsDiff(a, c)).toBe(0);
    tf.dispose([x, a, b, c]);
    for (const m of [src, fromPth, fromFolder]) m.dispose();
  });
});

describe('bad weights', () => {
  it('a dict with a wrong shape loads nothing', () => {
    const model = new AutoencoderKL({ config: CONFIG, seed: 5 });
    const before = model.stateDict();
    const bad = { ...ref, 'decoder.conv_out.bias': tf.zeros([4]) };
    expect(() => loadVaeStateDict(model, bad)).toThrow(/decoder\.conv_out\.bias.*shape \[4\].*\[3\]/);
    const after = model.stateDict();
    for (const k of Object.keys(before)) expect(maxAbsDiff(before[k], after[k])).toBe(0);
    tf.dispose([bad['decoder.conv_out.bias'], ...Object.values(before), ...Object.values(after)]);
    model.dispose();
  });

  it('a dict missing a VAE weight is refused in strict mode, naming it', () => {
    const partial = { ...ref };
    delete partial['encoder.mid_block.attentions.0.to_k.bias'];
    const model = new AutoencoderKL({ config: CONFIG, seed: 5 });
    expect(() => loadVaeStateDict(model, partial)).toThrow(
      /Missing: encoder\.mid_block\.attentions\.0\.to_k\.bias/,
    );
    model.dispose();
  });

  it('something that is not a VAE is named as such', () => {
    expect(() => vaeKeyMapping(['blocks.0.attn.qkv.weight', 'pos_embed'])).toThrow(
      /no 'encoder\.conv_in\.weight'.*blocks\.0/,
    );
    expect(() => autoencoderKLFromStateDict({})).toThrow(/not an AutoencoderKL state dict/);
  });

  it('a path that does not exist is named', async () => {
    await expect(loadAutoencoderKL(join(dir, 'missing.safetensors'))).rejects.toThrow(
      /no file or folder .*missing\.safetensors/,
    );
  });

  it('diffusers configs of other block types are refused', () => {
    expect(() => autoencoderKLConfigFromDiffusers({ _class_name: 'AutoencoderTiny' })).toThrow(/_class_name/);
    expect(() =>
      autoencoderKLConfigFromDiffusers({ block_out_channels: [64], down_block_types: ['DownBlock2D'] }),
    ).toThrow(/down_block_types must be 1 x 'DownEncoderBlock2D'/);
    expect(autoencoderKLConfigFromDiffusers({}).config.useQuantConv).toBe(true);
  });
});
