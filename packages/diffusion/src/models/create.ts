/** Building a denoiser from a serialised config, whichever class it names. */
import type { DenoiserConfig } from './config.js';
import { DiT } from './dit.js';
import { type InitOptions, LightningDiT } from './lightning-dit.js';

/** A DiT or LightningDiT from its config (`toJSON()` output), by `config.type`. */
export function denoiserFromConfig(config: DenoiserConfig, init: InitOptions = {}): DiT | LightningDiT {
  if (config?.type === 'dit') return DiT.fromConfig(config, init);
  if (config?.type === 'lightningdit') return LightningDiT.fromConfig(config, init);
  throw new TypeError(
    `denoiserFromConfig: config.type must be 'dit' or 'lightningdit', got ${JSON.stringify((config as { type?: unknown })?.type)}`,
  );
}
