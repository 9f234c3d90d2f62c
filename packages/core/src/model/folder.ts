/**
 * A folder of files read by name, the same way in Node and in the browser: a local folder
 * (`localFolder` of the Node entry), files fetched from a base URL ({@link fetchFolder}) or files held
 * in memory ({@link memoryFolder}, e.g. picked by the user). Loaders of checkpoint folders and
 * pipelines take one, so one loader serves every environment.
 */

/** Files of a folder, read by their name inside it. */
export interface FolderSource {
  /** Where the folder is (a path or a URL), for messages. */
  readonly location: string;
  /**
   * The bytes of the file `name` (a path inside the folder with '/' separators), or null when the
   * folder has no such file. Other failures (permissions, network) reject.
   */
  read(name: string): Promise<Uint8Array | null>;
}

/**
 * A folder that can also be written: what pipeline saving writes into (`localFolder(path)` in Node,
 * {@link memoryFolder} anywhere, e.g. to offer the files as downloads in a browser).
 */
export interface FolderStore extends FolderSource {
  /** Write the file `name` whole: readers see the old content or the new one, never a part. */
  write(name: string, data: Uint8Array | readonly Uint8Array[]): Promise<void>;
  /** Remove the file `name` (nothing happens when it does not exist). */
  remove(name: string): Promise<void>;
  /** Names of the files at the top of the folder (empty when the folder does not exist yet). */
  list(): Promise<string[]>;
}

/** Whether `v` is a {@link FolderSource}. */
export function isFolderSource(v: unknown): v is FolderSource {
  return (
    typeof v === 'object' &&
    v !== null &&
    typeof (v as FolderSource).read === 'function' &&
    typeof (v as FolderSource).location === 'string'
  );
}

/** Refuse names that would leave the folder ('..', absolute paths, backslashes). */
export function checkFolderEntryName(name: string, where: string): void {
  if (
    typeof name !== 'string' ||
    !name ||
    name.startsWith('/') ||
    name.includes('\\') ||
    name.split('/').some((p) => p === '..' || p === '.' || p === '')
  )
    throw new Error(`${where}: '${name}' is not a file name inside the folder (no '..', no leading '/')`);
}

/**
 * A folder held in memory: `files` maps names to bytes or text (text is stored as UTF-8). Useful for
 * files the user picked in a browser, to receive a saved pipeline as files, or in tests.
 */
export function memoryFolder(
  files: Record<string, Uint8Array | string> = {},
  location = 'memory',
): FolderStore & { files(): Record<string, Uint8Array> } {
  if (typeof files !== 'object' || files === null)
    throw new TypeError('memoryFolder: files must be an object of name -> Uint8Array | string');
  const where = `memoryFolder '${location}'`;
  const enc = new TextEncoder();
  const map = new Map<string, Uint8Array>();
  for (const [name, v] of Object.entries(files)) {
    checkFolderEntryName(name, 'memoryFolder');
    if (typeof v !== 'string' && !(v instanceof Uint8Array))
      throw new TypeError(`memoryFolder: files['${name}'] must be a Uint8Array or a string`);
    map.set(name, typeof v === 'string' ? enc.encode(v) : v);
  }
  return {
    location,
    read: async (name) => {
      checkFolderEntryName(name, where);
      return map.get(name) ?? null;
    },
    write: async (name, data) => {
      checkFolderEntryName(name, where);
      const chunks = data instanceof Uint8Array ? [data] : data;
      const out = new Uint8Array(chunks.reduce((n, c) => n + c.length, 0));
      let o = 0;
      for (const c of chunks) {
        out.set(c, o);
        o += c.length;
      }
      map.set(name, out);
    },
    remove: async (name) => {
      checkFolderEntryName(name, where);
      map.delete(name);
    },
    list: async () => [...map.keys()].filter((n) => !n.includes('/')),
    files: () => Object.fromEntries(map),
  };
}

/** Options of {@link fetchFolder}. */
export interface FetchFolderOptions {
  /** The fetch function (default `globalThis.fetch`). */
  fetch?: (url: string) => Promise<Response>;
}

/**
 * The folder at `baseUrl` over HTTP(S): `read(name)` fetches `baseUrl/name`; a 404 means the file is
 * absent, any other failure rejects with the URL and status.
 *
 * @example
 * const pipe = await LatentDiffusion.load(fetchFolder('/models/mnist-ldm/'));
 */
export function fetchFolder(baseUrl: string, opts: FetchFolderOptions = {}): FolderSource {
  if (typeof baseUrl !== 'string' || !baseUrl)
    throw new TypeError('fetchFolder: baseUrl must be the URL of the folder');
  const f = opts.fetch ?? (globalThis.fetch as ((url: string) => Promise<Response>) | undefined);
  if (typeof f !== 'function') throw new Error('fetchFolder: no fetch function here; pass opts.fetch');
  const base = baseUrl.endsWith('/') ? baseUrl : `${baseUrl}/`;
  return {
    location: baseUrl,
    read: async (name) => {
      checkFolderEntryName(name, `fetchFolder '${baseUrl}'`);
      const url = base + name.split('/').map(encodeURIComponent).join('/');
      const res = await f(url);
      if (res.status === 404) return null;
      if (!res.ok) throw new Error(`fetchFolder: GET ${url} failed with HTTP ${res.status}`);
      return new Uint8Array(await res.arrayBuffer());
    },
  };
}
