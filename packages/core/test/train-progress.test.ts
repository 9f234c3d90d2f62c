import { describe, expect, it } from 'vitest';
import { EtaMeter } from '../src/index.node.js';

/** A fake millisecond clock advanced by hand. */
function clock() {
  let t = 1000;
  const advance = (ms: number) => {
    t += ms;
  };
  return { now: () => t, advance };
}

describe('EtaMeter', () => {
  it('measures a steady rate and the ETA from it', () => {
    const c = clock();
    const m = new EtaMeter({ total: 100, now: c.now });
    expect(m.rate).toBe(0);
    expect(m.etaSeconds).toBe(Number.POSITIVE_INFINITY);
    for (let i = 1; i <= 10; i++) {
      c.advance(500);
      m.update(i);
    }
    expect(m.rate).toBeCloseTo(2, 12);
    expect(m.etaSeconds).toBeCloseTo(45, 10);
    expect(m.elapsedSeconds).toBeCloseTo(5, 12);
    expect(m.progress('encode')).toEqual({
      phase: 'encode',
      done: 10,
      total: 100,
      rate: m.rate,
      etaSeconds: m.etaSeconds,
      elapsedSeconds: 5,
    });
  });

  it('is unbiased after one update and lets a slow first step fade out', () => {
    const c = clock();
    const m = new EtaMeter({ total: 1000, start: 100, smoothing: 0.3, now: c.now });
    c.advance(10_000); // first step: 10 s (compilation)
    m.update(101);
    expect(m.rate).toBeCloseTo(0.1, 12);
    for (let i = 2; i <= 30; i++) {
      c.advance(100);
      m.update(100 + i);
    }
    // EMA weight of the first step is 0.7^29 ~ 3e-5 of the time average.
    expect(m.rate).toBeGreaterThan(9.5);
    expect(m.rate).toBeLessThan(10);
    m.update(1000);
    expect(m.etaSeconds).toBe(0);
  });

  it('rejects bad input', () => {
    expect(() => new EtaMeter({ total: -1 })).toThrow(/total must be a number >= 0/);
    expect(() => new EtaMeter({ total: 1, smoothing: 0 })).toThrow(/smoothing must be in \(0, 1\]/);
    const m = new EtaMeter({ total: 10 });
    m.update(5);
    expect(() => m.update(4)).toThrow(/must be finite and not decrease/);
  });
});
