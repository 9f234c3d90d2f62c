/**
 * Named block shapes (depth, width, patch, heads): the reference tables of DiT and LightningDiT plus
 * small ones that train on a 2-core CPU. A preset fixes only the shape; latent size, channels and
 * classes come from the data.
 */
import type { PresetShape } from './config.js';

const shape = (depth: number, hiddenSize: number, patchSize: number, numHeads: number): PresetShape => ({
  depth,
  hiddenSize,
  patchSize,
  numHeads,
});

/** DiT's model table (DiT-S/B/L/XL with patch 2, 4, 8) plus the small shapes Nano and Ti. */
export const DIT_PRESETS: Readonly<Record<string, PresetShape>> = Object.freeze({
  'DiT-XL/2': shape(28, 1152, 2, 16),
  'DiT-XL/4': shape(28, 1152, 4, 16),
  'DiT-XL/8': shape(28, 1152, 8, 16),
  'DiT-L/2': shape(24, 1024, 2, 16),
  'DiT-L/4': shape(24, 1024, 4, 16),
  'DiT-L/8': shape(24, 1024, 8, 16),
  'DiT-B/2': shape(12, 768, 2, 12),
  'DiT-B/4': shape(12, 768, 4, 12),
  'DiT-B/8': shape(12, 768, 8, 12),
  'DiT-S/2': shape(12, 384, 2, 6),
  'DiT-S/4': shape(12, 384, 4, 6),
  'DiT-S/8': shape(12, 384, 8, 6),
  'DiT-Ti/1': shape(6, 192, 1, 3),
  'DiT-Ti/2': shape(6, 192, 2, 3),
  'DiT-Nano/1': shape(2, 64, 1, 2),
  'DiT-Nano/2': shape(2, 64, 2, 2),
});

/**
 * LightningDiT's model table (B/1 is the LDMAE paper's denoiser) plus the small shapes Nano and Ti.
 */
export const LIGHTNINGDIT_PRESETS: Readonly<Record<string, PresetShape>> = Object.freeze({
  'LightningDiT-B/1': shape(12, 768, 1, 12),
  'LightningDiT-B/2': shape(12, 768, 2, 12),
  'LightningDiT-L/2': shape(24, 1024, 2, 16),
  'LightningDiT-XL/1': shape(28, 1152, 1, 16),
  'LightningDiT-XL/2': shape(28, 1152, 2, 16),
  'LightningDiT-1p0B/1': shape(24, 1536, 1, 24),
  'LightningDiT-1p0B/2': shape(24, 1536, 2, 24),
  'LightningDiT-1p6B/1': shape(28, 1792, 1, 28),
  'LightningDiT-1p6B/2': shape(28, 1792, 2, 28),
  'LightningDiT-Ti/1': shape(6, 192, 1, 3),
  'LightningDiT-Ti/2': shape(6, 192, 2, 3),
  'LightningDiT-Nano/1': shape(2, 64, 1, 2),
  'LightningDiT-Nano/2': shape(2, 64, 2, 2),
});

/** The shape of a preset from either table; throws listing the known names. */
export function presetShape(
  name: string,
  table: Readonly<Record<string, PresetShape>>,
  where: string,
): PresetShape {
  const s = Object.hasOwn(table, name) ? table[name] : undefined;
  if (!s) throw new Error(`${where}: unknown preset '${name}'; known: ${Object.keys(table).join(', ')}`);
  return { ...s };
}
