import { encodePng } from '@ldmae/data';
import { describe, expect, it } from 'vitest';
import { pngWidth, renderReport } from '../src/report/html.js';
import { esc, lineChart, logTicks, niceTicks, smooth } from '../src/report/svg.js';

describe('svg charts', () => {
  it('ticks are round numbers covering the range', () => {
    expect(niceTicks(0, 1, 5)).toEqual([0, 0.2, 0.4, 0.6, 0.8, 1]);
    expect(niceTicks(3, 97, 5)).toEqual([20, 40, 60, 80]);
    expect(niceTicks(-1.3, 2.1, 4)).toEqual([-1, 0, 1, 2]);
    // Log axes: decades, with 2x and 5x added when fewer than two decades show.
    expect(logTicks(-3, 1)).toEqual([0.001, 0.01, 0.1, 1, 10]);
    expect(logTicks(Math.log10(0.03), Math.log10(1.5))).toEqual([0.05, 0.1, 0.2, 0.5, 1]);
  });

  it('draws one polyline per series with every finite point, in the plot box', () => {
    const svg = lineChart(
      [
        {
          name: 'a',
          points: [
            [0, 1],
            [1, 2],
            [2, Number.NaN],
            [3, 4],
          ],
        },
        {
          name: 'b<c',
          points: [
            [0, 3],
            [3, 0],
          ],
        },
      ],
      { title: 'T', width: 400, height: 200 },
    );
    const lines = [...svg.matchAll(/<polyline[^>]* points="([^"]+)"/g)].map((m) => m[1].split(' '));
    expect(lines.map((l) => l.length)).toEqual([3, 2]);
    for (const [x, y] of lines.flat().map((p) => p.split(',').map(Number))) {
      expect(x).toBeGreaterThanOrEqual(64);
      expect(x).toBeLessThanOrEqual(400 - 16);
      expect(y).toBeGreaterThanOrEqual(30);
      expect(y).toBeLessThanOrEqual(200 - 44);
    }
    expect(svg).toContain('b&lt;c');
    // x = 0 maps to the left edge, x = 3 to the right edge.
    expect(lines[1][0].startsWith('64.0,')).toBe(true);
    expect(lines[1][1].startsWith('384.0,')).toBe(true);
  });

  it('smoothing is a bias-corrected moving average', () => {
    const s = smooth(
      [
        [0, 2],
        [1, 2],
        [2, 2],
      ],
      0.5,
    );
    expect(s.map((p) => p[1])).toEqual([2, 2, 2]);
    expect(
      smooth(
        [
          [0, 0],
          [1, 4],
        ],
        0.5,
      )[1][1],
    ).toBeCloseTo((4 * 0.5) / 0.75, 12);
  });
});

describe('html report', () => {
  it('embeds images as PNG data URIs and escapes text', () => {
    const png = encodePng({ data: new Uint8Array(6 * 4), height: 4, width: 6, channels: 1 });
    expect(pngWidth(png)).toBe(6);
    const html = renderReport({
      title: 'R <1>',
      created: '2025-01-01T00:00:00Z',
      summary: 's & t',
      config: { a: 1, nested: { b: [1, 2] } },
      runtime: {
        backend: 'wasm',
        threads: 1,
        cpus: 2,
        cpuModel: 'x',
        node: 'v20',
        platform: 'linux',
        versions: { p: '1' },
      },
      charts: [
        {
          title: 'loss',
          series: [
            {
              name: 'l',
              points: [
                [0, 1],
                [1, 0.5],
              ],
            },
          ],
        },
      ],
      images: [{ title: 'img', caption: 'c', png, scale: 3 }],
      metrics: [{ group: 'g', name: 'FID', value: 1.23456, network: 'net', n: 10, better: 'lower' }],
      analysis: [],
      timings: [{ phase: 'p', seconds: 1.5, detail: 'd' }],
      notes: ['n'],
    });
    expect(html).toContain('<title>R &lt;1&gt;</title>');
    expect(html).toContain('s &amp; t');
    expect(html).toContain(`src="data:image/png;base64,${Buffer.from(png).toString('base64')}" width="18"`);
    expect(html).toContain('<td>nested.b</td><td>1, 2</td>');
    expect(html).toContain('<td>1.235</td><td>net</td><td>10</td>');
    expect(html).toContain('<svg');
    expect(html).not.toMatch(/<script|https?:\/\/(?!www\.w3\.org)/);
    expect(esc(`"'`)).toBe('&quot;&#39;');
  });
});
