/** A small line plot on a canvas (the live training loss). */

/** Margins of the plot area inside the canvas, in pixels. */
export interface PlotBox {
  width: number;
  height: number;
  left: number;
  right: number;
  top: number;
  bottom: number;
}

/** The default margins for a canvas of `width` x `height`. */
export function plotBox(width: number, height: number): PlotBox {
  return { width, height, left: 48, right: 8, top: 8, bottom: 20 };
}

/** Result of {@link scalePoints}: canvas coordinates and the value range drawn. */
export interface ScaledPlot {
  points: [number, number][];
  min: number;
  max: number;
}

/**
 * Canvas coordinates of `values` (x: index spread over the plot width, first at the left edge and
 * the last at the right; y: value, `max` at the top, `min` at the bottom). Non-finite values are
 * left out. A constant series is drawn in the middle.
 */
export function scalePoints(values: readonly number[], box: PlotBox): ScaledPlot {
  const finite = values.filter(Number.isFinite);
  if (finite.length === 0) return { points: [], min: 0, max: 0 };
  let min = Math.min(...finite);
  let max = Math.max(...finite);
  if (min === max) {
    const pad = Math.abs(min) * 0.1 || 1;
    min -= pad;
    max += pad;
  }
  const w = box.width - box.left - box.right;
  const h = box.height - box.top - box.bottom;
  const points: [number, number][] = [];
  values.forEach((v, i) => {
    if (!Number.isFinite(v)) return;
    const x = box.left + (values.length === 1 ? w / 2 : (i / (values.length - 1)) * w);
    const y = box.top + ((max - v) / (max - min)) * h;
    points.push([x, y]);
  });
  return { points, min, max };
}

/** Short label of an axis value. */
export function formatTick(v: number): string {
  const a = Math.abs(v);
  if (a !== 0 && (a < 1e-3 || a >= 1e4)) return v.toExponential(1);
  return Number(v.toPrecision(3)).toString();
}

/** Draw `values` as a line with min / max labels and a step axis on `canvas`. */
export function drawLinePlot(canvas: HTMLCanvasElement, values: readonly number[], label = 'loss'): void {
  const ctx = canvas.getContext('2d')!;
  const box = plotBox(canvas.width, canvas.height);
  ctx.fillStyle = '#fff';
  ctx.fillRect(0, 0, canvas.width, canvas.height);
  ctx.strokeStyle = '#999';
  ctx.lineWidth = 1;
  ctx.strokeRect(box.left, box.top, box.width - box.left - box.right, box.height - box.top - box.bottom);
  const { points, min, max } = scalePoints(values, box);
  ctx.fillStyle = '#333';
  ctx.font = '11px sans-serif';
  ctx.textAlign = 'right';
  ctx.textBaseline = 'top';
  ctx.fillText(formatTick(max), box.left - 4, box.top);
  ctx.textBaseline = 'bottom';
  ctx.fillText(formatTick(min), box.left - 4, box.height - box.bottom);
  ctx.textAlign = 'left';
  ctx.textBaseline = 'top';
  ctx.fillText(`${label} over ${values.length} step(s)`, box.left, box.height - box.bottom + 4);
  if (points.length === 0) return;
  ctx.strokeStyle = '#c33';
  ctx.lineWidth = 2;
  ctx.beginPath();
  for (const [i, [x, y]] of points.entries()) {
    if (i === 0) ctx.moveTo(x, y);
    else ctx.lineTo(x, y);
  }
  ctx.stroke();
  ctx.fillStyle = '#c33';
  for (const [x, y] of points) ctx.fillRect(x - 2, y - 2, 4, 4);
}
