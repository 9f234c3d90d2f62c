/**
 * A small static file handler for Node's http server (used by the Vite dev / preview servers to serve
 * `ldmae-out/`, and by the browser test to serve the built page and a checkpoint). Only files under
 * `root` are served; `..` segments, absolute paths and symlinks out of it are refused.
 */
import { createReadStream } from 'node:fs';
import { realpath, stat } from 'node:fs/promises';
import type { IncomingMessage, ServerResponse } from 'node:http';
import { extname, join, resolve, sep } from 'node:path';

/** Content types of the files the playground serves. */
export const MIME_TYPES: Readonly<Record<string, string>> = {
  '.html': 'text/html; charset=utf-8',
  '.js': 'text/javascript; charset=utf-8',
  '.mjs': 'text/javascript; charset=utf-8',
  '.css': 'text/css; charset=utf-8',
  '.json': 'application/json; charset=utf-8',
  '.wasm': 'application/wasm',
  '.png': 'image/png',
  '.svg': 'image/svg+xml',
  '.safetensors': 'application/octet-stream',
  '.map': 'application/json; charset=utf-8',
};

/**
 * The file under `root` that the URL path `urlPath` names (percent-decoded; a trailing `/` gives
 * `index.html`), or null when the path leaves `root` or is malformed.
 */
export function resolveUnder(root: string, urlPath: string): string | null {
  let p: string;
  try {
    p = decodeURIComponent(urlPath.split(/[?#]/)[0]);
  } catch {
    return null;
  }
  if (p.includes('\0') || p.split('/').includes('..')) return null;
  if (p.endsWith('/')) p += 'index.html';
  const base = resolve(root);
  const file = resolve(join(base, p));
  return file === base || file.startsWith(base + sep) ? file : null;
}

/**
 * Serve `urlPath` from `root` on `res`. Resolves true when it answered (200, 404 or 403), false when
 * the file does not exist and `fallthrough` is set (so another handler can answer).
 */
export async function serveFile(
  root: string,
  urlPath: string,
  res: ServerResponse,
  opts: { fallthrough?: boolean } = {},
): Promise<boolean> {
  const file = resolveUnder(root, urlPath);
  if (!file) {
    res.statusCode = 403;
    res.end('forbidden');
    return true;
  }
  const st = await stat(file).catch(() => null);
  const real = st?.isFile() ? await realpath(file).catch(() => null) : null;
  const base = await realpath(resolve(root)).catch(() => resolve(root));
  if (!st?.isFile() || !real || !(real === base || real.startsWith(base + sep))) {
    if (opts.fallthrough) return false;
    res.statusCode = 404;
    res.end('not found');
    return true;
  }
  res.statusCode = 200;
  res.setHeader('Content-Type', MIME_TYPES[extname(file).toLowerCase()] ?? 'application/octet-stream');
  res.setHeader('Content-Length', String(st.size));
  res.setHeader('Cache-Control', 'no-store');
  await new Promise<void>((done, fail) => {
    const s = createReadStream(file);
    s.on('error', fail);
    s.on('end', done);
    s.pipe(res);
  });
  return true;
}

/** A connect-style middleware serving `root` under the URL prefix `prefix` (e.g. '/ldmae-out/'). */
export function staticMiddleware(prefix: string, root: string) {
  return (req: IncomingMessage, res: ServerResponse, next: () => void): void => {
    const url = req.url ?? '/';
    if (!url.startsWith(prefix) || (req.method !== 'GET' && req.method !== 'HEAD')) {
      next();
      return;
    }
    // A missing file is a 404 here, not the dev server's index.html fallback.
    serveFile(root, `/${url.slice(prefix.length)}`, res).catch(() => {
      res.statusCode = 500;
      res.end('read error');
    });
  };
}
