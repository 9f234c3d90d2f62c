import { setupBackend } from '@ldmae/core';
import { beforeAll, describe, expect, it } from 'vitest';
import { checkAutoencoderKLConfig } from '../src/config.js';
import {
  AUTOENCODER_KL_PRESET_ALIASES,
  AUTOENCODER_KL_PRESET_NAMES,
  AUTOENCODER_KL_PRESETS,
  AutoencoderKL,
  type AutoencoderKLPresetAlias,
  type AutoencoderKLPresetName,
  autoencoderKLConfig,
  autoencoderKLParameterCount,
  BASELINE_KINDS,
  createBaseline,
  DEFAULT_BASELINE_PRESET,
  resolveAutoencoderKLPresetName,
} from '../src/index.js';

beforeAll(async () => {
  await setupBackend({ backend: 'wasm' });
});

describe('parameter counts', () => {
  it("the paper's baseline (SD3 layout, f8d16) has 83,819,683 parameters = 319.7 MiB in float32", () => {
    const n = autoencoderKLParameterCount(AUTOENCODER_KL_PRESETS['sd3-f8d16'].config);
    expect(n).toBe(83_819_683);
    // The paper's Table 2 reports 319.7 MB for all four baselines.
    expect(((n * 4) / 2 ** 20).toFixed(1)).toBe('319.7');
  });

  it('the SD 1.x layout (4 latent channels, quant convs) has the well-known 83,653,863', () => {
    expect(autoencoderKLParameterCount(AUTOENCODER_KL_PRESETS['sd-f8d4'].config)).toBe(83_653_863);
  });

  it('a built sd3-f8d16 model holds exactly that many numbers, under diffusers names', () => {
    const vae = new AutoencoderKL({ preset: 'sd3-f8d16', init: 'zeros' });
    expect(vae.numParameters()).toBe(83_819_683);
    const shapes = vae.stateDictShapes();
    expect(Object.keys(shapes)).toHaveLength(244);
    expect(shapes['encoder.conv_in.weight']).toEqual([128, 3, 3, 3]);
    expect(shapes['encoder.down_blocks.1.resnets.0.conv_shortcut.weight']).toEqual([256, 128, 1, 1]);
    expect(shapes['encoder.down_blocks.2.downsamplers.0.conv.weight']).toEqual([512, 512, 3, 3]);
    expect(shapes['encoder.down_blocks.3.downsamplers.0.conv.weight']).toBeUndefined();
    expect(shapes['encoder.mid_block.attentions.0.to_q.weight']).toEqual([512, 512]);
    expect(shapes['encoder.mid_block.attentions.0.to_out.0.bias']).toEqual([512]);
    expect(shapes['encoder.conv_out.weight']).toEqual([32, 512, 3, 3]);
    expect(shapes['decoder.conv_in.weight']).toEqual([512, 16, 3, 3]);
    expect(shapes['decoder.up_blocks.0.resnets.2.conv2.weight']).toEqual([512, 512, 3, 3]);
    expect(shapes['decoder.up_blocks.2.resnets.0.conv_shortcut.weight']).toEqual([256, 512, 1, 1]);
    expect(shapes['decoder.up_blocks.3.upsamplers.0.conv.weight']).toBeUndefined();
    expect(shapes['decoder.conv_out.weight']).toEqual([3, 128, 3, 3]);
    expect(shapes['quant_conv.weight']).toBeUndefined();
    expect(shapes['post_quant_conv.weight']).toBeUndefined();
    vae.dispose();
  });

  it('every preset builds with the derived count, and all four baselines share it', () => {
    for (const name of AUTOENCODER_KL_PRESET_NAMES) {
      if (name.startsWith('sd')) continue;
      const vae = new AutoencoderKL({ preset: name });
      expect(vae.numParameters()).toBe(autoencoderKLParameterCount(vae.config));
      expect(vae.factor).toBe(AUTOENCODER_KL_PRESETS[name].factor);
      vae.dispose();
    }
    const counts = BASELINE_KINDS.map((k) => {
      const b = createBaseline(k, { preset: 'f4d4-micro' });
      const n = b.numParameters();
      expect(b.name).toBe(k);
      b.dispose();
      return n;
    });
    expect(new Set(counts).size).toBe(1);
    expect(counts[0]).toBe(62_371);
  });

  it('the same seed gives the same weights, another seed different ones', () => {
    const a = new AutoencoderKL({ preset: 'f4d4-micro', seed: 4 });
    const b = new AutoencoderKL({ preset: 'f4d4-micro', seed: 4 });
    const c = new AutoencoderKL({ preset: 'f4d4-micro', seed: 5 });
    const w = (m: AutoencoderKL) => m.decoder.convOut.weight.dataSync();
    expect(w(a)).toEqual(w(b));
    expect(w(a)).not.toEqual(w(c));
    // PyTorch's default init: U(-1/sqrt(fan_in), 1/sqrt(fan_in)), fan_in = 8 * 3 * 3 for conv_out.
    const bound = 1 / Math.sqrt(72);
    const v = Array.from(w(a));
    expect(Math.max(...v.map(Math.abs))).toBeLessThanOrEqual(bound);
    expect(Math.max(...v.map(Math.abs))).toBeGreaterThan(0.8 * bound);
    for (const m of [a, b, c]) m.dispose();
  });
});

describe('bad configurations', () => {
  it('name the field', () => {
    expect(() => autoencoderKLConfig('f4d4-tiny', { normNumGroups: 3 })).toThrow(
      /divisible by normNumGroups \(3\), got 16/,
    );
    expect(() => autoencoderKLConfig('f4d4-tiny', { blockOutChannels: [] })).toThrow(/blockOutChannels/);
    expect(() => autoencoderKLConfig('f4d4-tiny', { latentChannels: 0 })).toThrow(/latentChannels/);
    expect(() => autoencoderKLConfig('nope' as never)).toThrow(/preset must be one of sd3-f8d16/);
    expect(() =>
      checkAutoencoderKLConfig({ ...AUTOENCODER_KL_PRESETS['f4d4-tiny'].config, useQuantConv: 1 as never }),
    ).toThrow(/useQuantConv must be a boolean/);
    expect(() => new AutoencoderKL({ preset: 'f4d4-micro', posterior: 'point' as never })).toThrow(
      /posterior/,
    );
    expect(() => createBaseline('gan' as never)).toThrow(/kind must be one of ae, dae, vae, sd-vae/);
  });
});

describe('preset names', () => {
  const canonical = 'sd3-f8d16, sd-f8d4, f4d4-tiny, f8d4-tiny, f4d4-micro';

  it('read f<factor>d<latent channels>, as the VMAE presets', () => {
    expect(AUTOENCODER_KL_PRESET_NAMES.join(', ')).toBe(canonical);
    for (const name of AUTOENCODER_KL_PRESET_NAMES) {
      const { config, factor } = AUTOENCODER_KL_PRESETS[name];
      expect(name).toContain(`f${factor}d${config.latentChannels}`);
    }
  });

  it('each deprecated alias resolves to the same config as its new name', () => {
    const pairs = Object.entries(AUTOENCODER_KL_PRESET_ALIASES) as [
      AutoencoderKLPresetAlias,
      AutoencoderKLPresetName,
    ][];
    expect(pairs).toEqual([
      ['tiny-f4d4', 'f4d4-tiny'],
      ['tiny-f8d4', 'f8d4-tiny'],
      ['micro-f4d4', 'f4d4-micro'],
    ]);
    for (const [alias, name] of pairs) {
      expect(resolveAutoencoderKLPresetName(alias)).toBe(name);
      expect(autoencoderKLConfig(alias)).toEqual(autoencoderKLConfig(name));
      expect(autoencoderKLConfig(alias, { latentChannels: 8 })).toEqual(
        autoencoderKLConfig(name, { latentChannels: 8 }),
      );
      const a = new AutoencoderKL({ preset: alias, seed: 2, init: 'zeros' });
      const b = createBaseline('ae', { preset: alias, init: 'zeros' });
      expect(a.config).toEqual(AUTOENCODER_KL_PRESETS[name].config);
      expect(b.config).toEqual(a.config);
      a.dispose();
      b.dispose();
    }
    for (const name of AUTOENCODER_KL_PRESET_NAMES) expect(resolveAutoencoderKLPresetName(name)).toBe(name);
  });

  it('an unknown name errors naming the argument and listing the canonical names', () => {
    const list = canonical;
    expect(() => resolveAutoencoderKLPresetName('f4d4-huge')).toThrow(
      `preset must be one of ${list}, got 'f4d4-huge'`,
    );
    expect(() => resolveAutoencoderKLPresetName('x', '--preset')).toThrow(/^--preset must be one of/);
    expect(() => autoencoderKLConfig('tiny' as never)).toThrow(
      `autoencoderKLConfig: preset must be one of ${list}, got 'tiny'`,
    );
    expect(() => new AutoencoderKL({ preset: 'tiny' as never })).toThrow(
      `AutoencoderKL: opts.preset must be one of ${list}, got 'tiny'`,
    );
    expect(() => createBaseline('vae', { preset: 'tiny' as never })).toThrow(
      `createBaseline: opts.preset must be one of ${list}, got 'tiny'`,
    );
    // Object.prototype's keys are not presets.
    expect(() => resolveAutoencoderKLPresetName('toString')).toThrow(RangeError);
    expect(() => resolveAutoencoderKLPresetName(undefined as never)).toThrow(/got undefined/);
  });
});

describe('default preset', () => {
  it("is 'f4d4-tiny' (CPU-sized, 28 px -> 7x7x4), for createBaseline and new AutoencoderKL alike", () => {
    expect(DEFAULT_BASELINE_PRESET).toBe('f4d4-tiny');
    const tiny = AUTOENCODER_KL_PRESETS['f4d4-tiny'].config;
    const a = new AutoencoderKL({ init: 'zeros' });
    expect(a.config).toEqual(tiny);
    expect(a.numParameters()).toBe(242_235);
    expect(a.latentShape([28, 28, 3])).toEqual([7, 7, 4]);
    a.dispose();
    for (const kind of BASELINE_KINDS) {
      const b = createBaseline(kind, { init: 'zeros' });
      expect(b.config).toEqual(tiny);
      b.dispose();
    }
    // Overrides without a preset apply to the default one; 'sd3-f8d16' has to be asked for.
    const c = createBaseline('vae', { config: { latentChannels: 8 }, init: 'zeros' });
    expect(c.config).toEqual({ ...tiny, latentChannels: 8 });
    c.dispose();
    expect(autoencoderKLConfig('sd3-f8d16').latentChannels).toBe(16);
  });
});
