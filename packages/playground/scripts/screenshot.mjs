#!/usr/bin/env node
/**
 * A screenshot of the playground with a real checkpoint: serves the built page and an
 * `ldmae quickstart` output folder on a free localhost port, opens the page in Debian's headless
 * Chromium (through playwright-core; no browser is downloaded) with the folder's URL, reconstructs the
 * bundled digits, samples a grid, and writes a PNG with its colours reduced to a 256-entry palette.
 *
 *   node packages/playground/scripts/screenshot.mjs <quickstart dir> <out.png> [options]
 *
 * Options: --steps N (sampling steps, default 20), --per-class N (default 2), --seed N (default 0),
 * --cfg X (guidance scale, default: the page's), --backend auto|webgpu|webgl|wasm|cpu (default auto),
 * --site DIR (the built page, default packages/playground/dist), --width PX (default 1100),
 * --full (the whole page, with the empty training section; default: down to the samples),
 * --colors N (palette size, 2..256, default 256; 0 keeps the full-colour PNG).
 * Chromium: /usr/bin/chromium or CHROMIUM_PATH. Build the page first:
 * `npx nx run-many -t build -p @ldmae/core @ldmae/diffusion @ldmae/vmae @ldmae/metrics @ldmae/data`,
 * then `npm run build -w @ldmae/playground`.
 */
import { createReadStream, existsSync } from 'node:fs';
import { mkdir, realpath, stat, writeFile } from 'node:fs/promises';
import { createServer } from 'node:http';
import { dirname, extname, join, resolve, sep } from 'node:path';
import { fileURLToPath } from 'node:url';
import { deflateSync, inflateSync } from 'node:zlib';
import { chromium } from 'playwright-core';

const PKG = fileURLToPath(new URL('..', import.meta.url));
const USAGE =
  'usage: node packages/playground/scripts/screenshot.mjs <quickstart dir> <out.png> [--steps N] [--per-class N] [--seed N] [--cfg X] [--backend NAME] [--site DIR] [--width PX] [--full] [--colors N]';

function fail(msg) {
  console.error(`screenshot: ${msg}`);
  process.exit(1);
}

function parseArgs(argv) {
  const o = {
    steps: 20,
    perClass: 2,
    seed: 0,
    cfg: null,
    backend: 'auto',
    site: join(PKG, 'dist'),
    width: 1100,
    full: false,
    colors: 256,
  };
  const pos = [];
  const num = (name, v, min, max) => {
    const n = Number(v);
    if (v === undefined || !Number.isFinite(n) || n < min || n > max)
      fail(`${name} must be a number in [${min}, ${max}], got ${v}\n${USAGE}`);
    return n;
  };
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i];
    if (a === '-h' || a === '--help') {
      console.log(USAGE);
      process.exit(0);
    } else if (a === '--steps') o.steps = num(a, argv[++i], 1, 50);
    else if (a === '--per-class') o.perClass = num(a, argv[++i], 1, 20);
    else if (a === '--seed') o.seed = num(a, argv[++i], 0, 2 ** 31 - 1);
    else if (a === '--cfg') o.cfg = num(a, argv[++i], 1, 20);
    else if (a === '--width') o.width = num(a, argv[++i], 400, 4000);
    else if (a === '--colors') o.colors = num(a, argv[++i], 0, 256);
    else if (a === '--full') o.full = true;
    else if (a === '--backend') {
      o.backend = argv[++i];
      if (!['auto', 'webgpu', 'webgl', 'wasm', 'cpu'].includes(o.backend))
        fail(`--backend must be auto, webgpu, webgl, wasm or cpu, got ${o.backend}`);
    } else if (a === '--site') o.site = resolve(argv[++i] ?? fail('--site needs a folder'));
    else if (a.startsWith('--')) fail(`unknown option ${a}\n${USAGE}`);
    else pos.push(a);
  }
  if (pos.length !== 2) fail(USAGE);
  if (o.colors === 1) fail('--colors must be 0 (full colour) or 2..256');
  return { ...o, ckpt: resolve(pos[0]), out: resolve(pos[1]) };
}

const MIME = {
  '.html': 'text/html; charset=utf-8',
  '.js': 'text/javascript; charset=utf-8',
  '.css': 'text/css; charset=utf-8',
  '.json': 'application/json; charset=utf-8',
  '.wasm': 'application/wasm',
  '.png': 'image/png',
  '.safetensors': 'application/octet-stream',
  '.map': 'application/json; charset=utf-8',
};

/** Serve the file `urlPath` names under `root` (no `..`, no symlinks out of it). */
async function serve(root, urlPath, res) {
  let p;
  try {
    p = decodeURIComponent(urlPath.split(/[?#]/)[0]);
  } catch {
    p = '\0';
  }
  if (p.endsWith('/')) p += 'index.html';
  const base = await realpath(root);
  let file = resolve(join(base, p));
  try {
    if (p.includes('\0') || p.split('/').includes('..')) throw new Error('bad path');
    file = await realpath(file);
    if (!file.startsWith(base + sep) || !(await stat(file)).isFile()) throw new Error('not a file');
  } catch {
    res.statusCode = 404;
    res.end('not found');
    return;
  }
  res.setHeader('content-type', MIME[extname(file)] ?? 'application/octet-stream');
  createReadStream(file).pipe(res);
}

// --- PNG with a palette: median-cut quantisation, then PLTE + 8-bit indices ---

const CRC_TABLE = Int32Array.from({ length: 256 }, (_, n) => {
  let c = n;
  for (let k = 0; k < 8; k++) c = c & 1 ? 0xedb88320 ^ (c >>> 1) : c >>> 1;
  return c;
});
function crc32(buf) {
  let c = -1;
  for (let i = 0; i < buf.length; i++) c = CRC_TABLE[(c ^ buf[i]) & 0xff] ^ (c >>> 8);
  return (c ^ -1) >>> 0;
}
function chunk(type, data) {
  const out = Buffer.alloc(12 + data.length);
  out.writeUInt32BE(data.length, 0);
  out.write(type, 4, 'latin1');
  data.copy(out, 8);
  out.writeUInt32BE(crc32(out.subarray(4, 8 + data.length)), 8 + data.length);
  return out;
}

/** RGBA pixels of an 8-bit RGB(A), non-interlaced PNG (what Chromium writes). */
function decodePng(png) {
  const w = png.readUInt32BE(16);
  const h = png.readUInt32BE(20);
  const [depth, type, , , interlace] = png.subarray(24, 29);
  if (depth !== 8 || (type !== 2 && type !== 6) || interlace !== 0)
    throw new Error(`unexpected PNG (bit depth ${depth}, colour type ${type}, interlace ${interlace})`);
  const idat = [];
  for (let off = 8; off < png.length; ) {
    const len = png.readUInt32BE(off);
    const t = png.toString('latin1', off + 4, off + 8);
    if (t === 'IDAT') idat.push(png.subarray(off + 8, off + 8 + len));
    off += 12 + len;
  }
  const raw = inflateSync(Buffer.concat(idat));
  const bpp = type === 6 ? 4 : 3;
  const stride = w * bpp;
  const cur = Buffer.alloc(stride);
  const prev = Buffer.alloc(stride);
  const rgba = Buffer.alloc(w * h * 4);
  for (let y = 0; y < h; y++) {
    const f = raw[y * (stride + 1)];
    const line = raw.subarray(y * (stride + 1) + 1, (y + 1) * (stride + 1));
    for (let i = 0; i < stride; i++) {
      const a = i >= bpp ? cur[i - bpp] : 0;
      const b = prev[i];
      const c = i >= bpp ? prev[i - bpp] : 0;
      let v = line[i];
      if (f === 1) v += a;
      else if (f === 2) v += b;
      else if (f === 3) v += (a + b) >> 1;
      else if (f === 4) {
        const p = a + b - c;
        const pa = Math.abs(p - a);
        const pb = Math.abs(p - b);
        const pc = Math.abs(p - c);
        v += pa <= pb && pa <= pc ? a : pb <= pc ? b : c;
      }
      cur[i] = v & 0xff;
    }
    for (let x = 0; x < w; x++) {
      rgba[(y * w + x) * 4] = cur[x * bpp];
      rgba[(y * w + x) * 4 + 1] = cur[x * bpp + 1];
      rgba[(y * w + x) * 4 + 2] = cur[x * bpp + 2];
      rgba[(y * w + x) * 4 + 3] = bpp === 4 ? cur[x * bpp + 3] : 255;
    }
    cur.copy(prev);
  }
  return { w, h, rgba };
}

/** Median cut over the distinct colours (weighted by count): at most `k` palette entries. */
function medianCut(rgba, k) {
  const counts = new Map();
  for (let i = 0; i < rgba.length; i += 4) {
    const c = (rgba[i] << 16) | (rgba[i + 1] << 8) | rgba[i + 2];
    counts.set(c, (counts.get(c) ?? 0) + 1);
  }
  const colors = [...counts].map(([c, n]) => [(c >> 16) & 255, (c >> 8) & 255, c & 255, n]);
  if (colors.length <= k) return colors.map(([r, g, b]) => [r, g, b]);
  const range = (box) => {
    let best = -1;
    let axis = 0;
    for (let a = 0; a < 3; a++) {
      let lo = 255;
      let hi = 0;
      for (const c of box) {
        lo = Math.min(lo, c[a]);
        hi = Math.max(hi, c[a]);
      }
      if (hi - lo > best) [best, axis] = [hi - lo, a];
    }
    return { spread: best, axis };
  };
  const boxes = [colors];
  while (boxes.length < k) {
    // Split the box with the largest spread times pixel count (mostly flat UI colours stay exact).
    let bi = -1;
    let score = 0;
    for (let i = 0; i < boxes.length; i++) {
      if (boxes[i].length < 2) continue;
      const n = boxes[i].reduce((s, c) => s + c[3], 0);
      const s = range(boxes[i]).spread * Math.sqrt(n);
      if (s > score) [score, bi] = [s, i];
    }
    if (bi < 0) break;
    const box = boxes[bi];
    const { axis } = range(box);
    box.sort((p, q) => p[axis] - q[axis]);
    const half = box.reduce((s, c) => s + c[3], 0) / 2;
    let acc = 0;
    let cut = 1;
    for (; cut < box.length - 1; cut++) {
      acc += box[cut - 1][3];
      if (acc >= half) break;
    }
    boxes.splice(bi, 1, box.slice(0, cut), box.slice(cut));
  }
  return boxes.map((box) => {
    const n = box.reduce((s, c) => s + c[3], 0);
    return [0, 1, 2].map((a) => Math.round(box.reduce((s, c) => s + c[a] * c[3], 0) / n));
  });
}

/** The screenshot as a palette PNG of at most `k` colours (each pixel mapped to its nearest entry). */
function palettePng(png, k) {
  const { w, h, rgba } = decodePng(png);
  const pal = medianCut(rgba, k);
  const memo = new Map();
  const nearest = (r, g, b) => {
    const key = (r << 16) | (g << 8) | b;
    let i = memo.get(key);
    if (i === undefined) {
      let best = Infinity;
      for (let j = 0; j < pal.length; j++) {
        const d = (pal[j][0] - r) ** 2 + (pal[j][1] - g) ** 2 + (pal[j][2] - b) ** 2;
        if (d < best) [best, i] = [d, j];
      }
      memo.set(key, i);
    }
    return i;
  };
  const raw = Buffer.alloc(h * (w + 1));
  for (let y = 0; y < h; y++) {
    raw[y * (w + 1)] = 0;
    for (let x = 0; x < w; x++) {
      const p = (y * w + x) * 4;
      raw[y * (w + 1) + 1 + x] = nearest(rgba[p], rgba[p + 1], rgba[p + 2]);
    }
  }
  const ihdr = Buffer.alloc(13);
  ihdr.writeUInt32BE(w, 0);
  ihdr.writeUInt32BE(h, 4);
  ihdr.set([8, 3, 0, 0, 0], 8);
  return Buffer.concat([
    Buffer.from([137, 80, 78, 71, 13, 10, 26, 10]),
    chunk('IHDR', ihdr),
    chunk('PLTE', Buffer.from(pal.flat())),
    chunk('IDAT', deflateSync(raw, { level: 9 })),
    chunk('IEND', Buffer.alloc(0)),
  ]);
}

// --- the page ---

async function finished(page, id, timeout) {
  await page.waitForSelector(`#${id}[data-state="done"], #${id}[data-state="error"]`, { timeout });
  const text = ((await page.textContent(`#${id}`)) ?? '').trim();
  if ((await page.getAttribute(`#${id}`, 'data-state')) !== 'done') {
    const log = ((await page.textContent('#log')) ?? '').trim();
    throw new Error(`${id}: ${text}${log ? `\n${log}` : ''}`);
  }
  return text;
}

async function main() {
  const o = parseArgs(process.argv.slice(2));
  const chromiumPath = process.env.CHROMIUM_PATH ?? '/usr/bin/chromium';
  if (!existsSync(chromiumPath))
    fail(
      `Chromium not found at ${chromiumPath}: install Debian's chromium (scripts/install-test-deps.sh) or set CHROMIUM_PATH`,
    );
  if (!existsSync(join(o.site, 'index.html')))
    fail(
      `no built page at ${o.site}: run \`npm run build -w @ldmae/playground\` (after building the library packages) or pass --site`,
    );
  if (!existsSync(join(o.ckpt, 'ldm', 'checkpoint', 'meta.json')))
    fail(`${o.ckpt} is not an \`ldmae quickstart\` output folder (no ldm/checkpoint/meta.json)`);

  const server = createServer((req, res) => {
    const url = req.url ?? '/';
    const [root, path] = url.startsWith('/ckpt/') ? [o.ckpt, url.slice('/ckpt'.length)] : [o.site, url];
    serve(root, path, res).catch(() => {
      res.statusCode = 500;
      res.end();
    });
  });
  await new Promise((r) => server.listen(0, '127.0.0.1', r));
  const base = `http://127.0.0.1:${server.address().port}`;
  const browser = await chromium.launch({
    executablePath: chromiumPath,
    headless: true,
    args: ['--no-sandbox', '--enable-unsafe-swiftshader'],
  });
  try {
    const page = await browser.newPage({ viewport: { width: o.width, height: 900 } });
    const errors = [];
    page.on('pageerror', (e) => errors.push(e.message));
    const q = new URLSearchParams({ checkpoint: '/ckpt/' });
    if (o.backend !== 'auto') q.set('backend', o.backend);
    await page.goto(`${base}/index.html?${q}`);
    await page.waitForSelector('body[data-ready="1"]', { timeout: 120_000 });
    const backend = await page.getAttribute('body', 'data-backend');
    const loaded = await finished(page, 'ckpt-status', 300_000);
    console.log(`backend ${backend}; ${loaded}`);
    await page.click('#reconstruct');
    const recon = await finished(page, 'recon-status', 300_000);
    const psnr = (await page.textContent('#psnr'))?.trim();
    const ssim = (await page.textContent('#ssim'))?.trim();
    console.log(`reconstruction: PSNR ${psnr} dB, SSIM ${ssim} (${recon})`);
    await page.fill('#steps', String(o.steps));
    await page.fill('#per-class', String(o.perClass));
    await page.fill('#seed', String(o.seed));
    if (o.cfg !== null) await page.fill('#cfg', String(o.cfg));
    await page.click('#sample');
    console.log(`samples: ${await finished(page, 'sample-status', 600_000)}`);
    if (errors.length) throw new Error(`the page reported errors:\n${errors.join('\n')}`);
    let clip;
    if (!o.full) {
      const box = await page.locator('#sample-section').boundingBox();
      clip = { x: 0, y: 0, width: o.width, height: Math.ceil(box.y + box.height + 6) };
    }
    const png = await page.screenshot({ fullPage: true, ...(clip ? { clip } : {}) });
    const bytes = o.colors ? palettePng(png, o.colors) : png;
    await mkdir(dirname(o.out), { recursive: true });
    await writeFile(o.out, bytes);
    console.log(
      `wrote ${o.out} (${Math.round(bytes.length / 1024)} KB${o.colors ? `, ${o.colors}-colour palette` : ''})`,
    );
  } finally {
    await browser.close();
    await new Promise((r) => server.close(() => r()));
  }
}

main().catch((e) => fail(e?.stack ?? String(e)));
