/** Ancestral DDPM sampling (Ho et al.) with epsilon prediction. */
import * as tf from '@tensorflow/tfjs-core';
import { DiscreteScheduler, type DiscreteSchedulerOptions, discreteConfig } from './discrete.js';
import type { DiscreteSchedulerConfig, Scheduler, StepOptions } from './scheduler.js';

/**
 * One step from t to the next scheduled step s (s after the last: clean data, abar = 1), on the
 * process respaced to the schedule (guided-diffusion's SpacedDiffusion): beta' = 1 - abar_t / abar_s,
 * x0 = (x_t - sqrt(1 - abar_t) eps) / sqrt(abar_t), mean = sqrt(abar_s) beta' / (1 - abar_t) x0 +
 * sqrt(1 - beta') (1 - abar_s) / (1 - abar_t) x_t, variance beta' (1 - abar_s) / (1 - abar_t)
 * ('fixed_small') or beta' ('fixed_large'); fresh noise from `opts.rng` except on the last step.
 */
export class DDPMScheduler extends DiscreteScheduler implements Scheduler {
  readonly name = 'ddpm';

  constructor(opts: DiscreteSchedulerOptions = {}) {
    super(discreteConfig('ddpm', opts));
  }

  static fromConfig(config: DiscreteSchedulerConfig): DDPMScheduler {
    const { type: _t, ...rest } = config;
    return new DDPMScheduler(rest);
  }

  step(modelOutput: tf.Tensor, t: number, sample: tf.Tensor, opts: StepOptions = {}): tf.Tensor {
    const i = this.advance(t, modelOutput, sample);
    const { abT, abPrev, last } = this.alphas(i);
    const beta = 1 - abT / abPrev;
    const c0 = (Math.sqrt(abPrev) * beta) / (1 - abT);
    const ct = (Math.sqrt(1 - beta) * (1 - abPrev)) / (1 - abT);
    const variance = this.config.varianceType === 'fixed_small' ? (beta * (1 - abPrev)) / (1 - abT) : beta;
    if (!last && variance > 0 && !opts.rng) {
      this.index--;
      throw new Error(
        'DDPMScheduler.step: opts.rng is required (DDPM adds fresh noise on every step but the last)',
      );
    }
    const noise = !last && variance > 0 ? this.drawNormal(sample.shape, opts.rng!) : null;
    try {
      return tf.tidy(() => {
        const x0 = this.x0From(modelOutput, sample, abT);
        const mean = tf.add(tf.mul(x0, c0), tf.mul(sample, ct));
        return noise ? tf.add(mean, tf.mul(noise, Math.sqrt(variance))) : mean;
      });
    } finally {
      noise?.dispose();
    }
  }
}
