/** DDIM sampling (Song et al.) with epsilon prediction; deterministic with eta = 0. */
import * as tf from '@tensorflow/tfjs-core';
import { DiscreteScheduler, type DiscreteSchedulerOptions, discreteConfig } from './discrete.js';
import type { DiscreteSchedulerConfig, Scheduler, StepOptions } from './scheduler.js';

/**
 * One step from t to the next scheduled step s (after the last: abar = 1, i.e. x0 itself):
 * sigma = eta sqrt((1 - abar_s) / (1 - abar_t)) sqrt(1 - abar_t / abar_s),
 * x_s = sqrt(abar_s) x0 + sqrt(1 - abar_s - sigma^2) eps + sigma z (equation 12 of the paper; with a
 * clipped x0 the noise is re-derived from it, as guided-diffusion does).
 */
export class DDIMScheduler extends DiscreteScheduler implements Scheduler {
  readonly name = 'ddim';

  constructor(opts: DiscreteSchedulerOptions = {}) {
    super(discreteConfig('ddim', opts));
  }

  static fromConfig(config: DiscreteSchedulerConfig): DDIMScheduler {
    const { type: _t, ...rest } = config;
    return new DDIMScheduler(rest);
  }

  get eta(): number {
    return this.config.eta;
  }

  step(modelOutput: tf.Tensor, t: number, sample: tf.Tensor, opts: StepOptions = {}): tf.Tensor {
    const i = this.advance(t, modelOutput, sample);
    const { abT, abPrev } = this.alphas(i);
    const sigma = this.config.eta * Math.sqrt((1 - abPrev) / (1 - abT)) * Math.sqrt(1 - abT / abPrev);
    if (sigma > 0 && !opts.rng) {
      this.index--;
      throw new Error('DDIMScheduler.step: opts.rng is required when eta > 0');
    }
    const noise = sigma > 0 ? this.drawNormal(sample.shape, opts.rng!) : null;
    try {
      return tf.tidy(() => {
        const x0 = this.x0From(modelOutput, sample, abT);
        const eps = this.config.clipSample
          ? tf.div(tf.sub(tf.div(sample, Math.sqrt(abT)), x0), Math.sqrt(1 / abT - 1))
          : modelOutput;
        const dir = Math.sqrt(Math.max(0, 1 - abPrev - sigma * sigma));
        const mean = tf.add(tf.mul(x0, Math.sqrt(abPrev)), tf.mul(eps, dir));
        return noise ? tf.add(mean, tf.mul(noise, sigma)) : mean;
      });
    } finally {
      noise?.dispose();
    }
  }
}
