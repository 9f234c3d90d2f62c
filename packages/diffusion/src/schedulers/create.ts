/** Rebuilding any scheduler from its serialised config. */
import { FlowEulerScheduler, FlowHeunScheduler } from '../flow/solvers.js';
import { DDIMScheduler } from './ddim.js';
import { DDPMScheduler } from './ddpm.js';
import type { Scheduler, SchedulerConfig } from './scheduler.js';

/** A scheduler from `toJSON()` output, by `config.type`. */
export function schedulerFromConfig(config: SchedulerConfig): Scheduler {
  switch (config?.type) {
    case 'flow-euler':
      return new FlowEulerScheduler({ shift: config.shift });
    case 'flow-heun':
      return new FlowHeunScheduler({ shift: config.shift });
    case 'ddpm':
      return DDPMScheduler.fromConfig(config);
    case 'ddim':
      return DDIMScheduler.fromConfig(config);
    default:
      throw new TypeError(
        `schedulerFromConfig: config.type must be 'flow-euler', 'flow-heun', 'ddpm' or 'ddim', got ${JSON.stringify((config as { type?: unknown })?.type)}`,
      );
  }
}
