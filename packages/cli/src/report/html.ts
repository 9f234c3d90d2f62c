/**
 * The self-contained HTML report of a run: configuration, loss curves and the latent-smoothness curve
 * (inline SVG), images (base64 PNG data URIs), the metrics table with the network and the number of
 * images behind every number, timings and the runtime. One file, no scripts, no external resources.
 */
import { fmtNumber } from '../progress.js';
import type { RuntimeInfo } from '../runtime.js';
import { type ChartOptions, esc, lineChart, type Series } from './svg.js';

/** One row of the metrics table. */
export interface MetricRow {
  /** 'reconstruction', 'generation', ... */
  group: string;
  name: string;
  value: number | null;
  /** The network the number comes from ('-' for pixel metrics). */
  network: string;
  /** Images behind the number. */
  n: number;
  /** Which direction is better, e.g. 'lower'. */
  better?: 'lower' | 'higher';
}

/** An image of the report (PNG bytes), shown `scale` times its size with sharp pixels. */
export interface ReportImage {
  title: string;
  caption: string;
  png: Uint8Array;
  scale?: number;
}

/** A chart of the report. */
export interface ReportChart extends ChartOptions {
  series: Series[];
  caption?: string;
}

/** Everything {@link renderReport} shows. */
export interface ReportData {
  title: string;
  /** ISO time of the run. */
  created: string;
  /** One paragraph under the title. */
  summary: string;
  /** Resolved options (and derived values) of the run. */
  config: Record<string, unknown>;
  runtime: RuntimeInfo;
  charts: ReportChart[];
  images: ReportImage[];
  metrics: MetricRow[];
  /** Extra figures placed after the metrics (the smoothness curve). */
  analysis: ReportChart[];
  timings: { phase: string; seconds: number; detail: string }[];
  notes: string[];
}

/** PNG bytes as a data URI. */
export function pngDataUri(png: Uint8Array): string {
  return `data:image/png;base64,${Buffer.from(png.buffer, png.byteOffset, png.byteLength).toString('base64')}`;
}

/** Width of a PNG from its IHDR chunk. */
export function pngWidth(png: Uint8Array): number {
  if (png.length < 24) return 0;
  return new DataView(png.buffer, png.byteOffset, png.byteLength).getUint32(16);
}

/** An HTML table of `rows` under `head` (cells escaped). */
export function table(rows: (string | number)[][], head: string[]): string {
  const h = head.map((c) => `<th>${esc(c)}</th>`).join('');
  const b = rows.map((r) => `<tr>${r.map((c) => `<td>${esc(String(c))}</td>`).join('')}</tr>`).join('\n');
  return `<table><thead><tr>${h}</tr></thead><tbody>\n${b}\n</tbody></table>`;
}

function configRows(obj: Record<string, unknown>, prefix = ''): (string | number)[][] {
  const rows: (string | number)[][] = [];
  for (const [k, v] of Object.entries(obj)) {
    if (v && typeof v === 'object' && !Array.isArray(v))
      rows.push(...configRows(v as Record<string, unknown>, `${prefix}${k}.`));
    else rows.push([`${prefix}${k}`, Array.isArray(v) ? v.join(', ') : String(v)]);
  }
  return rows;
}

function chart(c: ReportChart): string {
  return `<figure>${lineChart(c.series, c)}${c.caption ? `<figcaption>${esc(c.caption)}</figcaption>` : ''}</figure>`;
}

/** Render the report as one HTML document. */
export function renderReport(d: ReportData): string {
  const images = d.images
    .map(
      (im) =>
        `<figure><h3>${esc(im.title)}</h3><img alt="${esc(im.title)}" src="${pngDataUri(im.png)}" width="${pngWidth(im.png) * (im.scale ?? 1)}"><figcaption>${esc(im.caption)}</figcaption></figure>`,
    )
    .join('\n');
  const metrics = table(
    d.metrics.map((m) => [
      m.group,
      m.name + (m.better ? (m.better === 'lower' ? ' (lower is better)' : ' (higher is better)') : ''),
      m.value === null ? 'n/a' : fmtNumber(m.value),
      m.network,
      m.n,
    ]),
    ['', 'metric', 'value', 'network', 'images (n)'],
  );
  const total = d.timings.reduce((a, t) => a + t.seconds, 0);
  const timings = table(
    [...d.timings.map((t) => [t.phase, t.seconds.toFixed(1), t.detail]), ['total', total.toFixed(1), '']],
    ['phase', 'seconds', ''],
  );
  const rt = d.runtime;
  const runtime = table(
    [
      ['backend', rt.adapter ? `${rt.backend} (${rt.adapter})` : rt.backend],
      ['threads', rt.threads],
      ['cpus', `${rt.cpus} (${rt.cpuModel})`],
      ['node', `${rt.node} (${rt.platform})`],
      ...Object.entries(rt.versions).map(([k, v]) => [k, v]),
    ],
    ['', ''],
  );
  return `<!doctype html>
<html lang="en"><head><meta charset="utf-8">
<title>${esc(d.title)}</title>
<style>
body{font-family:system-ui,sans-serif;max-width:1100px;margin:2em auto;padding:0 1em;color:#222}
h1{font-size:1.6em}h2{border-bottom:1px solid #ddd;padding-bottom:.2em;margin-top:1.6em}
table{border-collapse:collapse;margin:.5em 0}td,th{border:1px solid #ddd;padding:.25em .6em;text-align:left;font-size:.92em}
th{background:#f4f4f4}figure{display:inline-block;margin:.5em 1em .5em 0;vertical-align:top}
figcaption{font-size:.85em;color:#555;max-width:560px}img{image-rendering:pixelated;border:1px solid #ccc}
.notes li{margin:.2em 0}code{background:#f4f4f4;padding:0 .2em}
</style></head><body>
<h1>${esc(d.title)}</h1>
<p>${esc(d.summary)}</p>
<p>Run started ${esc(d.created)} on the <b>${esc(rt.backend)}</b> backend (${rt.threads} thread${rt.threads === 1 ? '' : 's'}, ${rt.cpus} CPUs); ${total.toFixed(0)} s in all.</p>
<h2>Metrics</h2>
${metrics}
${d.analysis.map(chart).join('\n')}
<h2>Images</h2>
${images}
<h2>Training</h2>
${d.charts.map(chart).join('\n')}
<h2>Timings</h2>
${timings}
<h2>Notes</h2>
<ul class="notes">${d.notes.map((n) => `<li>${esc(n)}</li>`).join('\n')}</ul>
<h2>Configuration</h2>
${table(configRows(d.config), ['option', 'value'])}
<h2>Runtime</h2>
${runtime}
</body></html>
`;
}
