/**
 * The playground end to end in Debian's headless Chromium (driven by playwright-core; no browser is
 * downloaded): build the page with Vite, make a small checkpoint in the quickstart layout, serve both
 * on a free localhost port, load the checkpoint layout through the file picker and from IndexedDB
 * after a reload, the pipeline folder through the file picker and by URL; reconstruct, sample and
 * train; check the canvases and numbers; screenshot.
 */
import { spawnSync } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { createServer, type Server } from 'node:http';
import { createRequire } from 'node:module';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { setupBackend } from '@ldmae/core';
import { type Browser, type BrowserContext, chromium, type Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { serveFile } from '../server/static.js';
import { makeCheckpoint } from './make-checkpoint.js';

const PKG = fileURLToPath(new URL('..', import.meta.url));
const OUT = join(PKG, 'test-output');
const CHROMIUM = process.env.CHROMIUM_PATH ?? '/usr/bin/chromium';
const BACKENDS = ['webgpu', 'webgl', 'wasm'];
/** VMAE training steps of the test checkpoint; more (e.g. 300) gives digit-like reconstructions for docs. */
const AE_STEPS = Number(process.env.PLAYGROUND_AE_STEPS ?? 3);

let server: Server;
let base: string;
let browser: Browser;
let ckptDir: string;
const timings: Record<string, number> = {};

/**
 * `vite build` of the page into `outDir` (not dist/, which nx's build target owns and may be writing
 * at the same time).
 */
function buildPage(outDir: string): void {
  const vite = join(dirname(createRequire(import.meta.url).resolve('vite/package.json')), 'bin', 'vite.js');
  const args = [vite, 'build', '--logLevel', 'warn', '--outDir', outDir, '--emptyOutDir'];
  const r = spawnSync(process.execPath, args, { cwd: PKG, encoding: 'utf8' });
  if (r.status !== 0) throw new Error(`vite build failed (${r.status}):\n${r.stdout}\n${r.stderr}`);
}

beforeAll(async () => {
  if (!existsSync(CHROMIUM)) {
    throw new Error(
      `Chromium not found at ${CHROMIUM}: run scripts/install-test-deps.sh (installs Debian's chromium with apt-get), or set CHROMIUM_PATH`,
    );
  }
  ckptDir = await mkdtemp(join(tmpdir(), 'ldmae-playground-e2e-'));
  const site = join(ckptDir, 'site');
  let t = performance.now();
  buildPage(site);
  timings.build = performance.now() - t;
  t = performance.now();
  await setupBackend({ backend: 'wasm' });
  await makeCheckpoint(join(ckptDir, 'quickstart'), { aeSteps: AE_STEPS });
  timings.checkpoint = performance.now() - t;
  server = createServer((req, res) => {
    const url = req.url ?? '/';
    const [root, path] = url.startsWith('/ckpt/') ? [ckptDir, url.slice('/ckpt'.length)] : [site, url];
    serveFile(root, path, res).catch(() => {
      res.statusCode = 500;
      res.end();
    });
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  browser = await chromium.launch({
    executablePath: CHROMIUM,
    headless: true,
    args: ['--no-sandbox', '--enable-unsafe-swiftshader'],
  });
}, 180_000);

afterAll(async () => {
  await browser?.close();
  await new Promise<void>((r) => (server ? server.close(() => r()) : r()));
  if (ckptDir) await rm(ckptDir, { recursive: true, force: true });
});

/** Open the page, collect its errors, wait until it has chosen a backend. */
async function open(
  context: BrowserContext,
  query = '',
): Promise<{ page: Page; errors: string[]; backend: string }> {
  const page = await context.newPage();
  const errors: string[] = [];
  page.on('pageerror', (e) => errors.push(`pageerror: ${e.message}`));
  page.on('console', (m) => {
    if (m.type() === 'error') errors.push(`console: ${m.text()}`);
  });
  await page.goto(`${base}/index.html${query}`);
  await page.waitForSelector('body[data-ready="1"]', { timeout: 60_000 });
  const backend = (await page.getAttribute('body', 'data-backend')) ?? '';
  return { page, errors, backend };
}

/** Wait for an action's status element to leave 'busy'; fail with its text unless it is 'done'. */
async function finished(page: Page, id: string, timeout = 120_000): Promise<string> {
  await page.waitForSelector(`#${id}[data-state="done"], #${id}[data-state="error"]`, { timeout });
  const state = await page.getAttribute(`#${id}`, 'data-state');
  const text = (await page.textContent(`#${id}`)) ?? '';
  const log = (await page.textContent('#log')) ?? '';
  expect(state, `${id}: ${text}\n${log}`).toBe('done');
  return text;
}

/** Variance of a canvas's RGB bytes (0 when it is blank or one flat colour). */
function canvasVariance(page: Page, id: string): Promise<number> {
  return page.evaluate((cid) => {
    const c = document.getElementById(cid) as HTMLCanvasElement;
    const d = c.getContext('2d')!.getImageData(0, 0, c.width, c.height).data;
    let s = 0;
    let s2 = 0;
    let n = 0;
    for (let i = 0; i < d.length; i += 4)
      for (let k = 0; k < 3; k++) {
        s += d[i + k];
        s2 += d[i + k] * d[i + k];
        n++;
      }
    return c.width > 10 ? s2 / n - (s / n) ** 2 : 0;
  }, id);
}

const tensors = async (page: Page) => Number(await page.getAttribute('body', 'data-tensors'));
const num = async (page: Page, id: string) => Number((await page.textContent(`#${id}`))?.trim());

describe('playground in headless Chromium', () => {
  it('loads a checkpoint four ways, reconstructs, samples, trains', async () => {
    const t0 = performance.now();
    // One context: its IndexedDB outlives the page.
    const context = await browser.newContext({ viewport: { width: 1100, height: 900 } });
    let { page, errors, backend } = await open(context);
    console.log(`playground backend (auto): ${backend}`);
    expect(BACKENDS).toContain(backend);
    expect(await page.textContent('#backend')).toBe(backend);

    // 1. The multi-file picker, with the files of the output folder.
    const q = join(ckptDir, 'quickstart');
    const { weights } = JSON.parse(readFileSync(join(q, 'ldm', 'checkpoint', 'meta.json'), 'utf8'));
    await page.setInputFiles('#ckpt-files', [
      join(q, 'vmae', 'autoencoder.safetensors'),
      join(q, 'ldm', 'checkpoint', weights),
      join(q, 'ldm', 'checkpoint', 'meta.json'),
      join(q, 'latents', 'cache-info.json'),
    ]);
    expect(await finished(page, 'ckpt-status')).toMatch(
      /^loaded files .*: checkpoint model-1\.safetensors: .*latents 7x7x4.*10 classes/,
    );

    // 2. It stays in IndexedDB: after a reload it loads from there.
    await page.close();
    ({ page, errors, backend } = await open(context));
    const stored = await page.$$eval('#stored option', (os) => os.map((o) => (o as HTMLOptionElement).value));
    expect(stored.some((s) => s.startsWith('files '))).toBe(true);
    await page.click('#load-stored');
    expect(await finished(page, 'ckpt-status')).toMatch(/^loaded files /);

    // 3. The files of the pipeline folder (pipeline.json and the files it names), by name.
    const pq = join(q, 'ldm', 'pipeline');
    const pj = JSON.parse(readFileSync(join(pq, 'pipeline.json'), 'utf8'));
    await page.setInputFiles('#ckpt-files', [
      join(pq, 'pipeline.json'),
      join(pq, pj.parts.autoencoder),
      join(pq, pj.parts.denoiser),
    ]);
    expect(await finished(page, 'ckpt-status')).toMatch(
      /^loaded files pipeline\.json, .*: pipeline folder: .*latents 7x7x4.*10 classes \(EMA weights\).*normalisation from the pipeline/,
    );

    // 4. By URL: the quickstart's ldm/pipeline/ under the base URL, read before the checkpoint layout.
    await page.fill('#ckpt-url', '/ckpt/quickstart/');
    await page.click('#load-url');
    expect(await finished(page, 'ckpt-status')).toMatch(
      /^loaded http:\/\/127\.0\.0\.1:\d+\/ckpt\/quickstart\/: pipeline folder ldm\/pipeline: .*normalisation from the pipeline/,
    );
    const afterLoad = await tensors(page);

    // Reconstruct the bundled digits.
    let t = performance.now();
    await page.click('#reconstruct');
    expect(await finished(page, 'recon-status')).toMatch(/^20 image\(s\); per image PSNR/);
    timings.reconstruct = performance.now() - t;
    const psnr = await num(page, 'psnr');
    const ssim = await num(page, 'ssim');
    expect(Number.isFinite(psnr)).toBe(true);
    expect(Number.isFinite(ssim)).toBe(true);
    expect(ssim).toBeGreaterThanOrEqual(-1);
    expect(ssim).toBeLessThanOrEqual(1);
    expect(await canvasVariance(page, 'orig-canvas')).toBeGreaterThan(0);
    expect(await canvasVariance(page, 'recon-canvas')).toBeGreaterThan(0);
    expect(await tensors(page)).toBe(afterLoad);

    // Sample a grid: 10 classes x 2, 4 steps (slider), seed 7.
    await page.fill('#steps', '4');
    expect(await page.textContent('#steps-value')).toBe('4');
    await page.fill('#per-class', '2');
    await page.fill('#seed', '7');
    t = performance.now();
    await page.click('#sample');
    expect(await finished(page, 'sample-status')).toMatch(/^10 x 2 samples, 4 steps, seed 7/);
    timings.sample = performance.now() - t;
    expect(await canvasVariance(page, 'sample-canvas')).toBeGreaterThan(0);
    expect(await tensors(page)).toBe(afterLoad);

    // Train a fresh tiny VMAE 4 steps; the losses are finite and plotted.
    await page.fill('#train-steps', '4');
    await page.fill('#train-batch', '8');
    t = performance.now();
    await page.click('#train');
    expect(await finished(page, 'train-status')).toMatch(/^4 steps in /);
    timings.train = performance.now() - t;
    const losses = JSON.parse((await page.textContent('#loss-values')) ?? '[]') as number[];
    expect(losses).toHaveLength(4);
    expect(losses.every(Number.isFinite)).toBe(true);
    const redPixels = await page.evaluate(() => {
      const c = document.getElementById('loss-canvas') as HTMLCanvasElement;
      const d = c.getContext('2d')!.getImageData(0, 0, c.width, c.height).data;
      let n = 0;
      for (let i = 0; i < d.length; i += 4) if (d[i] > 150 && d[i + 1] < 100 && d[i + 2] < 100) n++;
      return n;
    });
    expect(redPixels).toBeGreaterThan(20);
    expect(await tensors(page)).toBe(afterLoad);

    await mkdir(OUT, { recursive: true });
    const shot = join(OUT, 'playground.png');
    await page.screenshot({ path: shot, fullPage: true });
    expect(errors).toEqual([]);
    timings.total = performance.now() - t0;
    const result = { backend, psnr, ssim, losses, screenshot: shot, ms: timings };
    await writeFile(join(OUT, 'result.json'), `${JSON.stringify(result, null, 2)}\n`);
    console.log(`playground e2e: ${JSON.stringify(result)}`);
    await context.close();
  }, 300_000);

  it('runs on the wasm backend with its binaries served from the build', async () => {
    const context = await browser.newContext();
    const { page, errors, backend } = await open(context, '?backend=wasm&checkpoint=/ckpt/quickstart/');
    expect(backend).toBe('wasm');
    expect(await finished(page, 'ckpt-status')).toMatch(/^loaded /);
    await page.click('#reconstruct');
    await finished(page, 'recon-status');
    expect(Number.isFinite(await num(page, 'psnr'))).toBe(true);
    expect(await canvasVariance(page, 'recon-canvas')).toBeGreaterThan(0);
    expect(errors).toEqual([]);
    await context.close();
  }, 180_000);
});
