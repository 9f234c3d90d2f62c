/**
 * How long work is shown: progress bars with rate and ETA on a terminal (cli-progress, on stderr),
 * one summary line per phase when stderr is not a terminal (logs, CI), or JSON lines on stdout with
 * `--json` (machine-readable: every event and the final result, nothing else on stdout).
 *
 * Sources: core's `Progress` events (encode, sample, evaluations), `TrainProgressEvent`s of the train
 * loop, or plain counts with a rate measured here by core's `EtaMeter`.
 */
import { EtaMeter, type Progress, type TrainProgressEvent } from '@ldmae/core';
import cliProgress from 'cli-progress';
import { jsonReplacer } from './files.js';

/** Where output goes: bars ('tty'), a line per phase ('plain'), or JSON lines ('json'). */
export type OutputMode = 'tty' | 'plain' | 'json';

/** A minimal writable stream (process.stdout / stderr, or a test buffer). */
export interface TextSink {
  write(s: string): unknown;
  isTTY?: boolean;
  columns?: number;
}

/** Options of {@link Reporter}. */
export interface ReporterOptions {
  /** Default: 'json' when `json`, else 'tty' when stderr is a terminal, else 'plain'. */
  mode?: OutputMode;
  json?: boolean;
  /** Results and JSON lines (default process.stdout). */
  stdout?: TextSink;
  /** Bars, phase lines and messages (default process.stderr). */
  stderr?: TextSink;
  /** Least seconds between two JSON progress lines of one phase (default 1). */
  jsonInterval?: number;
  /** Clock in milliseconds (tests). */
  now?: () => number;
}

/** Extra numbers shown beside a bar and put in its JSON lines (loss, lr, images/s, ...). */
export type PhaseExtras = Record<string, number | string | null | undefined>;

/** Summary of a finished phase. */
export interface PhaseSummary {
  phase: string;
  done: number;
  total: number;
  unit: string;
  seconds: number;
  rate: number;
  extras: PhaseExtras;
  status: 'done' | 'stopped' | 'failed';
}

const fmtTime = (s: number): string => {
  if (!Number.isFinite(s)) return '--:--';
  const t = Math.max(0, Math.round(s));
  const h = Math.floor(t / 3600);
  const m = Math.floor((t % 3600) / 60);
  const sec = t % 60;
  const mm = String(m).padStart(2, '0');
  const ss = String(sec).padStart(2, '0');
  return h > 0 ? `${h}:${mm}:${ss}` : `${mm}:${ss}`;
};

/** A number in 4 significant digits, or as given when it is a string. */
export function fmtNumber(v: number | string | null | undefined): string {
  if (v === null || v === undefined) return '-';
  if (typeof v === 'string') return v;
  if (!Number.isFinite(v)) return String(v);
  if (v !== 0 && (Math.abs(v) < 1e-3 || Math.abs(v) >= 1e5)) return v.toExponential(2);
  return Number(v.toPrecision(4)).toString();
}

function extrasText(extras: PhaseExtras): string {
  return Object.entries(extras)
    .filter(([, v]) => v !== undefined && v !== null)
    .map(([k, v]) => `${k} ${fmtNumber(v)}`)
    .join(' ');
}

/** One running phase: feed it counts or events, then `finish()`. */
export class PhaseHandle {
  readonly phase: string;
  readonly unit: string;
  total: number;
  private done = 0;
  private rate = 0;
  private eta = Number.POSITIVE_INFINITY;
  private extras: PhaseExtras = {};
  private readonly meter: EtaMeter;
  private readonly t0: number;
  private lastJson = Number.NEGATIVE_INFINITY;
  private bar: cliProgress.SingleBar | null = null;
  private ended = false;

  /** @internal created by {@link Reporter.phase} */
  constructor(
    private readonly reporter: Reporter,
    phase: string,
    total: number,
    unit: string,
    startedAt?: number,
  ) {
    this.phase = phase;
    this.total = total;
    this.unit = unit;
    this.t0 = startedAt ?? reporter.now();
    this.meter = new EtaMeter({
      total: Number.isFinite(total) ? total : Number.POSITIVE_INFINITY,
      now: reporter.now,
    });
    if (reporter.mode === 'tty') {
      this.bar = new cliProgress.SingleBar(
        {
          stream: reporter.stderr as NodeJS.WritableStream,
          format: `${phase.padEnd(12)} |{bar}| {percentage}% | {value}/{total} ${unit} | {rateText} | ETA {etaText}{extrasText}`,
          barsize: 24,
          hideCursor: false,
          clearOnComplete: false,
          stopOnComplete: false,
          fps: 5,
          noTTYOutput: false,
        },
        cliProgress.Presets.shades_classic,
      );
      this.bar.start(Number.isFinite(total) ? total : 0, 0, this.payload());
    } else if (reporter.mode === 'json') {
      reporter.jsonLine({ event: 'phase-start', phase, total: Number.isFinite(total) ? total : null, unit });
    }
  }

  private payload() {
    return {
      rateText: `${fmtNumber(this.rate)} ${this.unit}/s`,
      etaText: fmtTime(this.eta),
      extrasText: this.extras && extrasText(this.extras) ? ` | ${extrasText(this.extras)}` : '',
    };
  }

  /**
   * Set the units done (cumulative). Without `rate` / `etaSeconds` they are measured here.
   * `extras` replace the previous ones shown beside the bar.
   */
  update(done: number, opts: { rate?: number; etaSeconds?: number; extras?: PhaseExtras } = {}): void {
    if (this.ended) return;
    if (done >= this.done) this.meter.update(done);
    this.done = done;
    this.rate = opts.rate ?? this.meter.rate;
    this.eta = opts.etaSeconds ?? this.meter.etaSeconds;
    if (opts.extras) this.extras = opts.extras;
    if (this.bar)
      this.bar.update(Math.min(done, Number.isFinite(this.total) ? this.total : done), this.payload());
    else if (this.reporter.mode === 'json') {
      const t = this.reporter.now();
      const last = Number.isFinite(this.total) && done >= this.total;
      if (last || t - this.lastJson >= this.reporter.jsonInterval * 1000) {
        this.lastJson = t;
        this.reporter.jsonLine({
          event: 'progress',
          phase: this.phase,
          done,
          total: Number.isFinite(this.total) ? this.total : null,
          unit: this.unit,
          rate: finiteOrNull(this.rate),
          eta_s: finiteOrNull(this.eta),
          elapsed_s: (t - this.t0) / 1000,
          ...this.extras,
        });
      }
    }
  }

  /** Feed a core train-loop event (steps; loss, lr and images/s shown beside the bar). */
  train = (ev: TrainProgressEvent): void => {
    if (ev.steps !== this.total) this.setTotal(ev.steps);
    this.update(ev.step, {
      rate: ev.stepsPerSec,
      etaSeconds: ev.etaSeconds,
      extras: {
        loss: ev.loss,
        lr: ev.lr,
        ...(ev.imagesPerSec === null ? {} : { 'img/s': Math.round(ev.imagesPerSec) }),
      },
    });
  };

  /** Feed a core `Progress` event (its own units, rate and ETA). */
  progress = (ev: Progress): void => {
    if (ev.total !== this.total && Number.isFinite(ev.total)) this.setTotal(ev.total);
    this.update(ev.done, { rate: ev.rate, etaSeconds: ev.etaSeconds });
  };

  /** Change the total (e.g. when a resumed run reports its own). */
  setTotal(total: number): void {
    this.total = total;
    this.bar?.setTotal(Number.isFinite(total) ? total : 0);
  }

  /** End the phase: stop the bar, print the summary line (plain) or the phase-end event (json). */
  finish(
    opts: { status?: PhaseSummary['status']; extras?: PhaseExtras; note?: string; at?: number } = {},
  ): PhaseSummary {
    const seconds = ((opts.at ?? this.reporter.now()) - this.t0) / 1000;
    if (opts.extras) this.extras = { ...this.extras, ...opts.extras };
    const status = opts.status ?? 'done';
    const summary: PhaseSummary = {
      phase: this.phase,
      done: this.done,
      total: this.total,
      unit: this.unit,
      seconds,
      rate: seconds > 0 ? this.done / seconds : 0,
      extras: { ...this.extras },
      status,
    };
    if (this.ended) return summary;
    this.ended = true;
    const r = this.reporter;
    if (this.bar) {
      this.bar.update(this.done, this.payload());
      this.bar.stop();
    }
    if (r.mode === 'json') {
      r.jsonLine({
        event: 'phase-end',
        phase: this.phase,
        status,
        done: this.done,
        total: Number.isFinite(this.total) ? this.total : null,
        unit: this.unit,
        seconds,
        ...this.extras,
      });
    } else if (r.mode === 'plain' || status !== 'done') {
      const of = Number.isFinite(this.total) ? `/${this.total}` : '';
      const extra = extrasText(this.extras);
      r.stderr.write(
        `${this.phase}: ${status === 'done' ? '' : `${status} at `}${this.done}${of} ${this.unit} in ${seconds.toFixed(1)} s` +
          ` (${fmtNumber(summary.rate)} ${this.unit}/s)${extra ? `, ${extra}` : ''}${opts.note ? `; ${opts.note}` : ''}\n`,
      );
    }
    r.phaseEnded(summary);
    return summary;
  }
}

const finiteOrNull = (v: number) => (Number.isFinite(v) ? v : null);

/** Output of one CLI run. */
export class Reporter {
  readonly mode: OutputMode;
  readonly stdout: TextSink;
  readonly stderr: TextSink;
  readonly jsonInterval: number;
  readonly now: () => number;
  /** Every finished phase, in order (for timings in reports). */
  readonly phases: PhaseSummary[] = [];

  constructor(opts: ReporterOptions = {}) {
    this.stdout = opts.stdout ?? process.stdout;
    this.stderr = opts.stderr ?? process.stderr;
    this.mode = opts.mode ?? (opts.json ? 'json' : this.stderr.isTTY ? 'tty' : 'plain');
    this.jsonInterval = opts.jsonInterval ?? 1;
    this.now = opts.now ?? (() => performance.now());
  }

  /** Start a phase of `total` units (Infinity when unknown). */
  phase(name: string, total: number, unit = 'it'): PhaseHandle {
    return new PhaseHandle(this, name, total, unit);
  }

  /** Run `fn` as a phase: finished when it resolves, marked failed (and rethrown) when it throws. */
  async run<T>(name: string, total: number, unit: string, fn: (p: PhaseHandle) => Promise<T>): Promise<T> {
    const p = this.phase(name, total, unit);
    try {
      const out = await fn(p);
      p.finish();
      return out;
    } catch (e) {
      p.finish({ status: 'failed' });
      throw e;
    }
  }

  /**
   * A `Progress` callback for work that reports several sub-phases (an evaluation: 'latent-std', then
   * 'latent-smoothness'): one bar per distinct `ev.phase`, named `name:phase`, each timed from the end of
   * the previous one (the first from this call). `total` stands in for events of unknown total.
   * Call `end` afterwards.
   */
  progressPhases(
    name: string,
    total = Number.POSITIVE_INFINITY,
    unit = 'images',
  ): { onProgress: (ev: Progress) => void; end: (status?: PhaseSummary['status']) => void } {
    let current: PhaseHandle | null = null;
    let currentKey: string | null = null;
    // A sub-phase ends at its last event (the next one's first event comes a batch later).
    let last = this.now();
    return {
      onProgress: (ev) => {
        if (ev.phase !== currentKey) {
          current?.finish({ at: last });
          currentKey = ev.phase;
          current = new PhaseHandle(
            this,
            `${name}:${ev.phase}`,
            Number.isFinite(ev.total) ? ev.total : total,
            unit,
            last,
          );
        }
        const p = current as PhaseHandle;
        if (!Number.isFinite(ev.total)) p.progress({ ...ev, total: p.total });
        else p.progress(ev);
        last = this.now();
      },
      end: (status = 'done') => {
        current?.finish({ status });
        current = null;
      },
    };
  }

  /** A message for the user (stderr; a JSON 'message' line with --json). */
  info(text: string, data: Record<string, unknown> = {}): void {
    if (this.mode === 'json') this.jsonLine({ event: 'message', level: 'info', text, ...data });
    else this.stderr.write(`${text}\n`);
  }

  /** A warning (stderr; a JSON 'message' line with --json). */
  warn(text: string): void {
    if (this.mode === 'json') this.jsonLine({ event: 'message', level: 'warn', text });
    else this.stderr.write(`warning: ${text}\n`);
  }

  /**
   * The result of a command: a JSON 'result' line with --json, else `text` (or the object, indented)
   * on stdout.
   */
  result(data: Record<string, unknown>, text?: string): void {
    if (this.mode === 'json') this.jsonLine({ event: 'result', ...data });
    else this.stdout.write(`${text ?? JSON.stringify(data, null, 2)}\n`);
  }

  /** An error, as the last thing the run prints. */
  error(message: string, hint?: string): void {
    if (this.mode === 'json') this.jsonLine({ event: 'error', message, ...(hint ? { hint } : {}) });
    else this.stderr.write(`ldmae: error: ${message}\n${hint ? `${hint}\n` : ''}`);
  }

  /** @internal */
  jsonLine(obj: Record<string, unknown>): void {
    this.stdout.write(`${JSON.stringify(obj, jsonReplacer)}\n`);
  }

  /** @internal */
  phaseEnded(s: PhaseSummary): void {
    this.phases.push(s);
  }
}
