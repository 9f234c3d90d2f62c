/**
 * The machine-readable result of one benchmark script (`--json PATH`), which `run-all.ts` collects into
 * docs/benchmarks.md:
 *
 *   {"name": string,
 *    "rows":   [{"label": string, "value": number, "unit": string}],      what the script measured
 *    "ratios": [{"label": string, "value": number, "against": string}],  ours / a reference from the same run
 *    "notes":  [string]}
 *
 * A ratio is a speed ratio: ours divided by the reference's throughput (or the reference's time divided
 * by ours), so a value above 1 means ours is faster.
 */
import { renameSync, rmSync, writeFileSync } from 'node:fs';

export interface BenchRow {
  label: string;
  value: number;
  unit: string;
}

export interface BenchRatio {
  label: string;
  value: number;
  against: string;
}

export interface BenchReport {
  name: string;
  rows: BenchRow[];
  ratios: BenchRatio[];
  notes: string[];
}

/** "1 thread", "2 threads". */
export const threads = (n: number): string => `${n} thread${n === 1 ? '' : 's'}`;

/** Writes `text` to a temporary file beside `path` and renames it over `path`: never a half-written file. */
export function writeFileAtomic(path: string, text: string): void {
  const tmp = `${path}.${process.pid}.${Date.now()}.tmp`;
  try {
    writeFileSync(tmp, text);
    renameSync(tmp, path);
  } catch (e) {
    // A failed write or rename leaves neither a half-written file nor the temporary one behind.
    rmSync(tmp, { force: true });
    throw e;
  }
}

/** The value of `--json PATH` in `args`, or undefined. */
export function jsonPathArg(args: readonly string[]): string | undefined {
  const i = args.indexOf('--json');
  if (i < 0) return undefined;
  const path = args[i + 1];
  if (!path || path.startsWith('--')) throw new Error('--json needs a file path');
  return path;
}

/** A report being filled in by a benchmark script; `write` saves it when `--json PATH` was given. */
export class Report implements BenchReport {
  rows: BenchRow[] = [];
  ratios: BenchRatio[] = [];
  notes: string[] = [];

  constructor(public name: string) {}

  /** A measured value; one that is not a finite number (JSON has none) becomes a note instead. */
  row(label: string, value: number, unit: string): this {
    if (Number.isFinite(value)) this.rows.push({ label, value, unit });
    else this.notes.push(`${label}: not measured (${value})`);
    return this;
  }

  ratio(label: string, value: number, against: string): this {
    if (Number.isFinite(value)) this.ratios.push({ label, value, against });
    else this.notes.push(`${label} against ${against}: not measured (${value})`);
    return this;
  }

  note(text: string): this {
    this.notes.push(text);
    return this;
  }

  toJSON(): BenchReport {
    return { name: this.name, rows: this.rows, ratios: this.ratios, notes: this.notes };
  }

  /** Writes the report to the `--json` path of `args` (atomically); does nothing without one. */
  write(args: readonly string[] = process.argv.slice(2)): void {
    const path = jsonPathArg(args);
    if (path) writeFileAtomic(path, `${JSON.stringify(this.toJSON(), null, 2)}\n`);
  }
}

/** Checks that `value` has the shape of a BenchReport (as read back from a script's `--json` file). */
export function parseReport(value: unknown, source: string): BenchReport {
  const bad = (what: string): never => {
    throw new Error(`${source}: not a benchmark report (${what})`);
  };
  if (typeof value !== 'object' || value === null) bad('not an object');
  const r = value as Record<string, unknown>;
  if (typeof r.name !== 'string') bad('name');
  const list = (key: string, fields: [string, 'string' | 'number'][]) => {
    const v = r[key];
    if (!Array.isArray(v)) bad(key);
    for (const item of v as unknown[]) {
      if (typeof item !== 'object' || item === null) bad(key);
      for (const [f, t] of fields) if (typeof (item as Record<string, unknown>)[f] !== t) bad(`${key}.${f}`);
    }
  };
  list('rows', [
    ['label', 'string'],
    ['value', 'number'],
    ['unit', 'string'],
  ]);
  list('ratios', [
    ['label', 'string'],
    ['value', 'number'],
    ['against', 'string'],
  ]);
  if (!Array.isArray(r.notes) || r.notes.some((n) => typeof n !== 'string')) bad('notes');
  return r as unknown as BenchReport;
}
