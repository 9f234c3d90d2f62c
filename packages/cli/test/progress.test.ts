import { describe, expect, it } from 'vitest';
import { Reporter } from '../src/progress.js';
import { Capture } from './helpers.js';

/** A clock the test moves by hand (milliseconds). */
function clock() {
  let t = 0;
  return {
    now: () => t,
    advance: (ms: number) => {
      t += ms;
    },
  };
}

describe('Reporter', () => {
  it('without a terminal prints one summary line per phase, with rate', () => {
    const err = new Capture(false);
    const out = new Capture(false);
    const c = clock();
    const r = new Reporter({ stdout: out, stderr: err, now: c.now });
    expect(r.mode).toBe('plain');
    const p = r.phase('encode', 100, 'images');
    for (let i = 1; i <= 100; i++) {
      c.advance(10);
      p.update(i);
    }
    p.finish();
    expect(err.text).toBe('encode: 100/100 images in 1.0 s (100 images/s)\n');
    expect(out.text).toBe('');
    expect(r.phases[0]).toMatchObject({ phase: 'encode', done: 100, seconds: 1, status: 'done' });
  });

  it('with --json writes progress, phase and result events as JSON lines on stdout only', () => {
    const err = new Capture(true);
    const out = new Capture(true);
    const c = clock();
    const r = new Reporter({ json: true, stdout: out, stderr: err, now: c.now });
    const p = r.phase('train', 10, 'steps');
    for (let step = 1; step <= 10; step++) {
      c.advance(300); // 0.3 s per step: with a 1 s interval, lines at steps 1, 5, 9 and the last
      p.train({
        step,
        steps: 10,
        loss: 1 / step,
        lr: 1e-3,
        imagesPerSec: 100,
        stepsPerSec: 3.3,
        etaSeconds: (10 - step) * 0.3,
        elapsedSeconds: step * 0.3,
        logs: {},
      });
    }
    p.finish();
    r.info('hello');
    r.result({ fid: 12.5, nan: Number.NaN });
    expect(err.text).toBe('');
    const lines = out.json();
    expect(lines[0]).toEqual({ event: 'phase-start', phase: 'train', total: 10, unit: 'steps' });
    const progress = lines.filter((l) => l.event === 'progress');
    expect(progress.map((l) => l.done)).toEqual([1, 5, 9, 10]);
    expect(progress[3]).toMatchObject({
      phase: 'train',
      total: 10,
      rate: 3.3,
      eta_s: 0,
      loss: 0.1,
      lr: 1e-3,
      'img/s': 100,
    });
    expect(lines.find((l) => l.event === 'phase-end')).toMatchObject({
      status: 'done',
      done: 10,
      seconds: 3,
    });
    expect(lines.find((l) => l.event === 'message')).toEqual({
      event: 'message',
      level: 'info',
      text: 'hello',
    });
    expect(lines.at(-1)).toEqual({ event: 'result', fid: 12.5, nan: null });
  });

  it('on a terminal draws a bar with rate and ETA', () => {
    const err = new Capture(true);
    const r = new Reporter({ stdout: new Capture(true), stderr: err });
    expect(r.mode).toBe('tty');
    const p = r.phase('sample', 4, 'images');
    p.update(2, { rate: 2, etaSeconds: 1 });
    p.finish();
    expect(err.text).toContain('sample');
    expect(err.text).toContain('2/4 images');
    expect(err.text).toContain('2 images/s');
    expect(err.text).toMatch(/ETA 00:01/);
  });

  it('marks a stopped phase and opens one timed bar per sub-phase of an evaluation', () => {
    const err = new Capture(false);
    const c = clock();
    const r = new Reporter({ stdout: new Capture(false), stderr: err, now: c.now });
    const s = r.phase('train', 10, 'steps');
    s.update(3);
    s.finish({ status: 'stopped' });
    const p = r.progressPhases('smoothness', 10);
    c.advance(2000);
    p.onProgress({
      phase: 'latent-std',
      done: 10,
      total: Number.POSITIVE_INFINITY,
      rate: 5,
      etaSeconds: 0,
      elapsedSeconds: 2,
    });
    c.advance(1000);
    p.onProgress({
      phase: 'latent-smoothness',
      done: 20,
      total: 20,
      rate: 20,
      etaSeconds: 0,
      elapsedSeconds: 1,
    });
    p.end();
    expect(err.text.split('\n').filter(Boolean)).toEqual([
      'train: stopped at 3/10 steps in 0.0 s (0 steps/s)',
      'smoothness:latent-std: 10/10 images in 2.0 s (5 images/s)',
      'smoothness:latent-smoothness: 20/20 images in 1.0 s (20 images/s)',
    ]);
    expect(r.phases.map((x) => [x.phase, x.seconds])).toEqual([
      ['train', 0],
      ['smoothness:latent-std', 2],
      ['smoothness:latent-smoothness', 1],
    ]);
  });
});
