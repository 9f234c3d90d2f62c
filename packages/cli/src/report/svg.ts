/**
 * Line charts as inline SVG (no scripts, no external resources): axes with rounded ticks, one polyline
 * per series, a legend. Enough for loss curves and the latent-smoothness curve of the report.
 */

/** One line of a chart. */
export interface Series {
  name: string;
  /** [x, y] points; non-finite values are skipped. */
  points: readonly (readonly [number, number])[];
  /** CSS colour (default from a palette). */
  color?: string;
  /** Draw a marker at each point (default: when there are at most 20 points). */
  markers?: boolean;
  /** Dashed line. */
  dashed?: boolean;
}

/** Options of `lineChart`. */
export interface ChartOptions {
  title?: string;
  xLabel?: string;
  yLabel?: string;
  width?: number;
  height?: number;
  /** Logarithmic y axis (only positive values are drawn). */
  logY?: boolean;
}

const PALETTE = ['#1f77b4', '#d62728', '#2ca02c', '#ff7f0e', '#9467bd', '#8c564b'];

/** Escape text for XML / HTML. */
export function esc(s: string): string {
  return s.replace(
    /[&<>"']/g,
    (c) => ({ '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;', "'": '&#39;' })[c]!,
  );
}

/** About `count` round tick values covering [lo, hi]. */
export function niceTicks(lo: number, hi: number, count = 5): number[] {
  if (!(hi > lo)) return [lo];
  const raw = (hi - lo) / count;
  const mag = 10 ** Math.floor(Math.log10(raw));
  const step = [1, 2, 2.5, 5, 10].map((m) => m * mag).find((s) => s >= raw) ?? 10 * mag;
  const out: number[] = [];
  for (let v = Math.ceil(lo / step) * step; v <= hi + step * 1e-9; v += step)
    out.push(Number(v.toPrecision(12)));
  return out;
}

function fmtTick(v: number): string {
  if (v === 0) return '0';
  const a = Math.abs(v);
  if (a >= 1e4 || a < 1e-3) return v.toExponential(1);
  return Number(v.toPrecision(4)).toString();
}

/** An SVG line chart of `series`. */
export function lineChart(series: readonly Series[], opts: ChartOptions = {}): string {
  const W = opts.width ?? 560;
  const H = opts.height ?? 300;
  const m = { l: 64, r: 16, t: opts.title ? 30 : 14, b: 44 };
  const tr = (v: number) => (opts.logY ? Math.log10(v) : v);
  const pts = series.map((s) =>
    s.points.filter(([x, y]) => Number.isFinite(x) && Number.isFinite(y) && (!opts.logY || y > 0)),
  );
  const all = pts.flat();
  const parts: string[] = [
    `<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 ${W} ${H}" width="${W}" height="${H}" font-family="sans-serif" font-size="11">`,
    `<rect width="${W}" height="${H}" fill="#fff"/>`,
  ];
  if (opts.title)
    parts.push(
      `<text x="${W / 2}" y="18" text-anchor="middle" font-size="13" font-weight="bold">${esc(opts.title)}</text>`,
    );
  if (all.length === 0) {
    parts.push(`<text x="${W / 2}" y="${H / 2}" text-anchor="middle" fill="#888">no data</text></svg>`);
    return parts.join('');
  }
  let [x0, x1] = [Math.min(...all.map((p) => p[0])), Math.max(...all.map((p) => p[0]))];
  let [y0, y1] = [Math.min(...all.map((p) => tr(p[1]))), Math.max(...all.map((p) => tr(p[1])))];
  if (x1 === x0) [x0, x1] = [x0 - 1, x1 + 1];
  if (y1 === y0) [y0, y1] = [y0 - (Math.abs(y0) || 1) * 0.1, y1 + (Math.abs(y1) || 1) * 0.1];
  const pad = (y1 - y0) * 0.05;
  y0 -= pad;
  y1 += pad;
  const px = (x: number) => m.l + ((x - x0) / (x1 - x0)) * (W - m.l - m.r);
  const py = (y: number) => H - m.b - ((tr(y) - y0) / (y1 - y0)) * (H - m.t - m.b);
  const axisY = H - m.b;
  parts.push(`<g stroke="#ccc" stroke-width="1">`);
  const yTicks = opts.logY ? logTicks(y0, y1) : niceTicks(y0, y1, 5);
  for (const t of yTicks) {
    const y = py(t);
    if (y < m.t - 0.5 || y > axisY + 0.5) continue;
    parts.push(`<line x1="${m.l}" x2="${W - m.r}" y1="${y.toFixed(1)}" y2="${y.toFixed(1)}"/>`);
  }
  parts.push('</g><g fill="#333">');
  for (const t of yTicks) {
    const y = py(t);
    if (y < m.t - 0.5 || y > axisY + 0.5) continue;
    parts.push(`<text x="${m.l - 6}" y="${(y + 4).toFixed(1)}" text-anchor="end">${fmtTick(t)}</text>`);
  }
  for (const t of niceTicks(x0, x1, 6)) {
    const x = px(t);
    parts.push(`<text x="${x.toFixed(1)}" y="${axisY + 16}" text-anchor="middle">${fmtTick(t)}</text>`);
  }
  parts.push('</g>');
  parts.push(`<line x1="${m.l}" x2="${W - m.r}" y1="${axisY}" y2="${axisY}" stroke="#333"/>`);
  parts.push(`<line x1="${m.l}" x2="${m.l}" y1="${m.t}" y2="${axisY}" stroke="#333"/>`);
  if (opts.xLabel)
    parts.push(
      `<text x="${(m.l + W - m.r) / 2}" y="${H - 8}" text-anchor="middle">${esc(opts.xLabel)}</text>`,
    );
  if (opts.yLabel)
    parts.push(
      `<text transform="translate(14 ${(m.t + axisY) / 2}) rotate(-90)" text-anchor="middle">${esc(opts.yLabel)}${opts.logY ? ' (log)' : ''}</text>`,
    );
  series.forEach((s, i) => {
    const p = pts[i];
    if (p.length === 0) return;
    const color = s.color ?? PALETTE[i % PALETTE.length];
    const d = p.map(([x, y]) => `${px(x).toFixed(1)},${py(y).toFixed(1)}`).join(' ');
    parts.push(
      `<polyline fill="none" stroke="${color}" stroke-width="1.6"${s.dashed ? ' stroke-dasharray="5 3"' : ''} points="${d}"/>`,
    );
    if (s.markers ?? p.length <= 20) {
      for (const [x, y] of p)
        parts.push(`<circle cx="${px(x).toFixed(1)}" cy="${py(y).toFixed(1)}" r="3" fill="${color}"/>`);
    }
  });
  const legend = series.map((s, i) => ({ name: s.name, color: s.color ?? PALETTE[i % PALETTE.length] }));
  legend.forEach((l, i) => {
    const y = m.t + 8 + i * 15;
    parts.push(`<rect x="${W - m.r - 150}" y="${y - 8}" width="12" height="3" fill="${l.color}"/>`);
    parts.push(`<text x="${W - m.r - 134}" y="${y - 3}">${esc(l.name)}</text>`);
  });
  parts.push('</svg>');
  return parts.join('');
}

/** Ticks of a log10 axis spanning exponents [e0, e1]: powers of ten, plus 2x and 5x when few decades show. */
export function logTicks(e0: number, e1: number): number[] {
  const out: number[] = [];
  const few = e1 - e0 < 2;
  for (let k = Math.floor(e0); k <= Math.ceil(e1); k++) {
    for (const m of few ? [1, 2, 5] : [1]) {
      const v = m * 10 ** k;
      const e = Math.log10(v);
      if (e >= e0 - 1e-9 && e <= e1 + 1e-9) out.push(Number(v.toPrecision(6)));
    }
  }
  return out;
}

/** Exponential moving average of y (bias-corrected), for a readable trend line of a noisy loss. */
export function smooth(points: readonly (readonly [number, number])[], alpha = 0.05): [number, number][] {
  let avg = 0;
  let w = 0;
  return points.map(([x, y]) => {
    avg = alpha * y + (1 - alpha) * avg;
    w = alpha + (1 - alpha) * w;
    return [x, avg / w];
  });
}
