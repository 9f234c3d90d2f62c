/**
 * The generated results section of docs/benchmarks.md: rendering the reports of one `run-all.ts` run as
 * markdown, checking them against the targets, and replacing the text between the two markers (the rest
 * of the file is written by hand and left as it is).
 */
import { readFileSync } from 'node:fs';
import { type BenchReport, writeFileAtomic } from './report.js';

export const START_MARKER = '<!-- bench:results:start -->';
export const END_MARKER = '<!-- bench:results:end -->';

/**
 * `text` with everything between the start and end markers replaced by `section` (the markers stay, each
 * on its own line). Running it again with the same section gives the same text. Throws, naming `file`,
 * when a marker is missing, repeated or out of order.
 */
export function replaceBetweenMarkers(text: string, section: string, file: string): string {
  const count = (marker: string) => text.split(marker).length - 1;
  for (const marker of [START_MARKER, END_MARKER]) {
    const n = count(marker);
    if (n === 0)
      throw new Error(
        `${file}: marker ${marker} not found; put ${START_MARKER} and ${END_MARKER} on their own lines where the results go`,
      );
    if (n > 1) throw new Error(`${file}: marker ${marker} appears ${n} times; keep one`);
  }
  const start = text.indexOf(START_MARKER);
  const end = text.indexOf(END_MARKER);
  if (end < start) throw new Error(`${file}: ${END_MARKER} comes before ${START_MARKER}`);
  const body = section.trim();
  return `${text.slice(0, start + START_MARKER.length)}\n${body ? `${body}\n` : ''}${text.slice(end)}`;
}

/** Replaces the results section of the markdown file `file` (atomically: a temporary file, then a rename). */
export function writeResultsSection(file: string, section: string): void {
  const text = readFileSync(file, 'utf8');
  const next = replaceBetweenMarkers(text, section, file);
  if (next !== text) writeFileAtomic(file, next);
}

/** A goal that one benchmark's row or ratio is checked against. */
export interface Target {
  /** The runner's id of the benchmark run that measures it. */
  bench: string;
  kind: 'row' | 'ratio';
  /** Matches the label of the row or ratio. */
  label: RegExp;
  op: '>=' | '<=' | '<' | '>';
  value: number;
  /** The unit of a row target's value (ratios are in x). */
  unit?: string;
  /** What the goal is, in words. */
  text: string;
}

export interface TargetResult {
  target: Target;
  /** The measured value, or undefined when nothing matched (benchmark skipped, failed, or no reference). */
  measured?: number;
  unit: string;
  met?: boolean;
  /** Why nothing was measured. */
  why?: string;
}

/** What happened to one benchmark of a run. */
export interface BenchOutcome {
  id: string;
  /** The command line that ran it. */
  command: string;
  seconds: number;
  report?: BenchReport;
  /** Why it has no report: skipped or failed, in words. */
  skipped?: string;
  failed?: string;
}

export interface RunInfo {
  /** ISO 8601. */
  date: string;
  quick: boolean;
  command: string;
  cpu: string;
  cores: number;
  memGiB: number;
  loadStart: number;
  loadEnd: number;
  node: string;
  tfjsCore: string;
  tfjsWasm: string;
  torch: string;
  seconds: number;
}

const compare = (a: number, op: Target['op'], b: number) =>
  op === '>=' ? a >= b : op === '<=' ? a <= b : op === '<' ? a < b : a > b;
const OP_TEXT: Record<Target['op'], string> = { '>=': '≥', '<=': '≤', '<': '<', '>': '>' };

/** Each target with the value measured for it (the first matching row or ratio) and whether it is met. */
export function checkTargets(targets: readonly Target[], outcomes: readonly BenchOutcome[]): TargetResult[] {
  return targets.map((target) => {
    const unit = target.kind === 'ratio' ? 'x' : (target.unit ?? '');
    const outcome = outcomes.find((o) => o.id === target.bench);
    const report = outcome?.report;
    if (!report) return { target, unit, why: !outcome ? 'not run' : outcome.skipped ? 'skipped' : 'failed' };
    const found = (target.kind === 'ratio' ? report.ratios : report.rows).find((x) =>
      target.label.test(x.label),
    );
    if (!found) {
      const torch = report.notes.some((n) => n.startsWith('PyTorch not installed'));
      return { target, unit, why: torch ? 'PyTorch not installed' : 'not in the results' };
    }
    return { target, measured: found.value, unit, met: compare(found.value, target.op, target.value) };
  });
}

/** A number with about three significant digits. */
export function formatValue(v: number): string {
  const a = Math.abs(v);
  if (a >= 100) return v.toFixed(0);
  if (a >= 10) return v.toFixed(1);
  if (a >= 1) return v.toFixed(2);
  return String(Number(v.toPrecision(3)));
}

const unitText = (unit: string) => (unit === 'x' ? 'x' : unit ? ` ${unit}` : '');
const withUnit = (v: number, unit: string) => `${formatValue(v)}${unitText(unit)}`;
const goal = (r: TargetResult) => `${OP_TEXT[r.target.op]} ${r.target.value}${unitText(r.unit)}`;
const status = (r: TargetResult) =>
  r.met === undefined ? `not measured (${r.why})` : r.met ? 'met' : 'not met';
const cell = (s: string) => s.replace(/\|/g, '\\|').replace(/\n/g, ' ');

/** The markdown of the results section (without the markers). */
export function renderResults(
  info: RunInfo,
  outcomes: readonly BenchOutcome[],
  targets: readonly Target[],
): string {
  const checked = checkTargets(targets, outcomes);
  const out: string[] = [];
  out.push('## Results');
  out.push('');
  out.push(
    info.quick
      ? `**Quick run** (few steps, small sizes: it checks that the benchmarks run, its numbers are not representative), ${info.date}.`
      : `Measured ${info.date}; ratios compare ours with a reference measured in the same run on the same machine (above 1: ours is faster).`,
  );
  out.push('');
  out.push('| | |');
  out.push('| --- | --- |');
  out.push(`| machine | ${cell(info.cpu)}, ${info.cores} logical cores, ${formatValue(info.memGiB)} GiB |`);
  out.push(
    `| load average (1 min) | ${info.loadStart.toFixed(2)} at the start, ${info.loadEnd.toFixed(2)} at the end |`,
  );
  out.push(`| Node | ${info.node} |`);
  out.push(`| tfjs-core, tfjs-backend-wasm | ${info.tfjsCore}, ${info.tfjsWasm} |`);
  out.push(`| PyTorch | ${cell(info.torch)} |`);
  out.push(`| command | \`${info.command}\` |`);
  out.push(`| duration | ${formatValue(info.seconds / 60)} min |`);
  out.push('');
  if (checked.length) {
    out.push('### Targets');
    out.push('');
    out.push('| target | goal | measured | status |');
    out.push('| --- | --- | --- | --- |');
    for (const r of checked) {
      const measured = r.measured === undefined ? '-' : withUnit(r.measured, r.unit);
      out.push(`| ${cell(r.target.text)} | ${goal(r)} | ${measured} | ${status(r)} |`);
    }
    out.push('');
  }
  for (const o of outcomes) {
    out.push(`### ${cell(o.report?.name ?? o.id)}`);
    out.push('');
    out.push(`\`${o.command}\`${o.seconds > 0 ? `, ${formatValue(o.seconds)} s` : ''}`);
    out.push('');
    if (o.skipped) out.push(`Skipped: ${o.skipped}`);
    if (o.failed) out.push(`**Failed**: ${o.failed}`);
    if (o.skipped || o.failed) out.push('');
    const report = o.report;
    if (!report) continue;
    const targetCell = (kind: Target['kind'], label: string) => {
      const t = checked.find(
        (c) => c.target.bench === o.id && c.target.kind === kind && c.target.label.test(label),
      );
      return t ? `${goal(t)}: ${status(t)}` : '';
    };
    if (report.rows.length) {
      out.push('| measurement | value | unit | target |');
      out.push('| --- | --- | --- | --- |');
      for (const r of report.rows)
        out.push(
          `| ${cell(r.label)} | ${formatValue(r.value)} | ${cell(r.unit)} | ${targetCell('row', r.label)} |`,
        );
      out.push('');
    }
    if (report.ratios.length) {
      out.push('| ratio (above 1: ours faster) | value | against | target |');
      out.push('| --- | --- | --- | --- |');
      for (const r of report.ratios)
        out.push(
          `| ${cell(r.label)} | ${formatValue(r.value)}x | ${cell(r.against)} | ${targetCell('ratio', r.label)} |`,
        );
      out.push('');
    }
    for (const n of report.notes) out.push(`- ${n}`);
    if (report.notes.length) out.push('');
  }
  return out.join('\n');
}
