/** Running `ldmae` in-process with captured output, for the tests. */
import { mkdirSync, mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { writePng } from '@ldmae/data';
import { main } from '../src/program.js';
import type { TextSink } from '../src/progress.js';

/** A sink that keeps what is written. */
export class Capture implements TextSink {
  text = '';
  isTTY?: boolean;
  columns = 120;
  private readonly listeners: ((s: string) => void)[] = [];
  constructor(isTTY?: boolean) {
    if (isTTY !== undefined) this.isTTY = isTTY;
  }
  write(s: string): boolean {
    this.text += s;
    for (const l of this.listeners) l(s);
    return true;
  }
  /** Call `fn` with every later write. */
  onWrite(fn: (s: string) => void): void {
    this.listeners.push(fn);
  }
  /** JSON lines written so far. */
  json(): Record<string, unknown>[] {
    return this.text
      .split('\n')
      .filter((l) => l.startsWith('{'))
      .map((l) => JSON.parse(l));
  }
}

/** Run `ldmae ...args`; resolves to the exit code and the captured streams. */
export async function run(
  args: string[],
  opts: { stdout?: Capture; stderr?: Capture } = {},
): Promise<{ code: number; stdout: string; stderr: string; out: Capture; err: Capture }> {
  const out = opts.stdout ?? new Capture();
  const err = opts.stderr ?? new Capture();
  const code = await main(args, { stdout: out, stderr: err });
  return { code, stdout: out.text, stderr: err.text, out, err };
}

/** A fresh temporary folder. */
export function tempDir(prefix = 'ldmae-cli-'): string {
  return mkdtempSync(join(tmpdir(), prefix));
}

/** `dir`/imgs with `count` 16x16 RGB PNGs img-<i>.png, byte k of image i being (k * a + i * b) % 256. */
export async function pngFolder(dir: string, count: number, a: number, b: number): Promise<string> {
  const folder = join(dir, 'imgs');
  mkdirSync(folder);
  for (let i = 0; i < count; i++) {
    const data = Uint8Array.from({ length: 16 * 16 * 3 }, (_, k) => (k * a + i * b) % 256);
    await writePng(join(folder, `img-${i}.png`), { data, height: 16, width: 16, channels: 3 });
  }
  return folder;
}
