import { describe, expect, it } from 'vitest';
import { gridRgba } from '../src/images.js';
import { formatTick, plotBox, scalePoints } from '../src/plot.js';
import { batchIndices } from '../src/train.js';

describe('scalePoints', () => {
  const box = plotBox(200, 100); // plot area x 48..192, y 8..80

  it('maps the first and last index to the edges and max / min to top / bottom', () => {
    const { points, min, max } = scalePoints([4, 2, 1], box);
    expect(min).toBe(1);
    expect(max).toBe(4);
    expect(points[0]).toEqual([48, 8]);
    expect(points[2]).toEqual([192, 80]);
    expect(points[1][0]).toBeCloseTo(120);
    expect(points[1][1]).toBeCloseTo(8 + (2 / 3) * 72);
  });

  it('leaves out non-finite values and centres a constant series', () => {
    const { points } = scalePoints([1, Number.NaN, Number.POSITIVE_INFINITY, 1], box);
    expect(points).toHaveLength(2);
    expect(points.every(([, y]) => Math.abs(y - 44) < 1e-9)).toBe(true);
    expect(scalePoints([], box).points).toEqual([]);
    expect(scalePoints([5], box).points).toEqual([[120, 44]]);
  });

  it('formats ticks', () => {
    expect(formatTick(0.123456)).toBe('0.123');
    expect(formatTick(0.00001234)).toBe('1.2e-5');
    expect(formatTick(0)).toBe('0');
  });
});

describe('gridRgba', () => {
  it('lays out [-1, 1] images as bytes with gaps', () => {
    const data = new Float32Array([-1, 1, 0, 1, -1, 1, 1, 1]); // two 2x2 grey images
    const { rgba, width, height } = gridRgba({ data, shape: [2, 2, 2, 1] }, 2);
    expect([width, height]).toEqual([5, 2]);
    expect(Array.from(rgba.subarray(0, 4))).toEqual([0, 0, 0, 255]);
    expect(Array.from(rgba.subarray(4, 8))).toEqual([255, 255, 255, 255]);
    expect(rgba[8]).toBe(255); // the gap column stays white
    expect(rgba[(1 * 5 + 0) * 4]).toBe(128); // 0 -> 127.5 -> 128
    expect(rgba[(0 * 5 + 3) * 4]).toBe(0); // second image, top-left is -1
    expect(() => gridRgba({ data, shape: [1, 2, 2, 2] }, 1)).toThrow(/1 or 3 channels/);
  });
});

describe('batchIndices', () => {
  it('draws a seeded batch of distinct digits while it can', () => {
    const a = batchIndices(20, 8, 0, 0);
    expect(a).toEqual(batchIndices(20, 8, 0, 0));
    expect(new Set(a).size).toBe(8);
    expect(a).not.toEqual(batchIndices(20, 8, 0, 1));
    expect(batchIndices(3, 5, 1, 0).length).toBe(5);
  });
});
