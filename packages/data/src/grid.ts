/**
 * Image grids with torchvision's `make_grid` layout.
 */
import { checkImage, type Image, toUint8Image } from './image.js';

/** Options of {@link makeGrid}. */
export interface GridOptions {
  /** Images per row (default 8). */
  nrow?: number;
  /** Pixels between and around images (default 2). */
  padding?: number;
  /** Byte value of the padding (default 0, black). */
  padValue?: number;
}

/**
 * Tile images (all the same size) into one byte image: `nrow` per row, `padding` pixels around
 * each, as torchvision's make_grid. Float images ([-1, 1]) are converted with `toUint8Image`.
 * Grey images stay grey unless mixed with RGB ones (then all become RGB).
 */
export function makeGrid(images: readonly Image[], opts: GridOptions = {}): Image {
  if (!Array.isArray(images) || images.length === 0)
    throw new RangeError('makeGrid: images must be a non-empty array');
  const nrow = opts.nrow ?? 8;
  const padding = opts.padding ?? 2;
  const padValue = opts.padValue ?? 0;
  if (!Number.isInteger(nrow) || nrow <= 0)
    throw new RangeError(`makeGrid: nrow must be a positive integer, got ${nrow}`);
  if (!Number.isInteger(padding) || padding < 0)
    throw new RangeError(`makeGrid: padding must be a non-negative integer, got ${padding}`);
  if (!(padValue >= 0 && padValue <= 255))
    throw new RangeError(`makeGrid: padValue must be a byte 0..255, got ${padValue}`);
  images.forEach((im, i) => {
    checkImage(im, `images[${i}]`);
  });
  const { height: h, width: w } = images[0];
  images.forEach((im, i) => {
    if (im.height !== h || im.width !== w) {
      throw new RangeError(
        `makeGrid: images[${i}] is ${im.height}x${im.width}, images[0] is ${h}x${w}; all must have the same size`,
      );
    }
    if (im.channels !== 1 && im.channels !== 3)
      throw new RangeError(`makeGrid: images[${i}] has ${im.channels} channels, expected 1 or 3`);
  });
  const c = images.some((im) => im.channels === 3) ? 3 : 1;
  const n = images.length;
  const xmaps = Math.min(nrow, n);
  const ymaps = Math.ceil(n / xmaps);
  const cellH = h + padding;
  const cellW = w + padding;
  const gh = cellH * ymaps + padding;
  const gw = cellW * xmaps + padding;
  const out = new Uint8Array(gh * gw * c).fill(padValue);
  images.forEach((im0, k) => {
    const im = toUint8Image(im0);
    const top = Math.floor(k / xmaps) * cellH + padding;
    const left = (k % xmaps) * cellW + padding;
    for (let y = 0; y < h; y++) {
      for (let x = 0; x < w; x++) {
        const d = ((top + y) * gw + left + x) * c;
        const s = (y * w + x) * im.channels;
        for (let ch = 0; ch < c; ch++) out[d + ch] = im.data[s + (im.channels === 1 ? 0 : ch)];
      }
    }
  });
  return { data: out, height: gh, width: gw, channels: c };
}
