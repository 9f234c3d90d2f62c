/** Progress events of the evaluations (core's `Progress`, counted in images). */
import { EtaMeter, type Progress, type ProgressCallback } from '@ldmae/core';

/** Emits a {@link Progress} event of `phase` after every batch, when a listener was given. */
export class ProgressReporter {
  private readonly meter: EtaMeter | null;
  private done = 0;

  constructor(
    private readonly phase: string,
    total: number | undefined,
    private readonly listener: ProgressCallback<Progress> | undefined,
  ) {
    if (listener !== undefined && typeof listener !== 'function')
      throw new TypeError(`${phase}: opts.onProgress must be a function`);
    this.meter = listener ? new EtaMeter({ total: total ?? Number.POSITIVE_INFINITY }) : null;
  }

  /** Record `n` more images done. */
  add(n: number): void {
    this.done += n;
    if (!this.meter || !this.listener) return;
    this.meter.update(this.done);
    this.listener(this.meter.progress(this.phase));
  }
}
