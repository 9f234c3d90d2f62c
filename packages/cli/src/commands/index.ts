// Every subcommand, in the order of `ldmae --help`.
import type { CommandDefinition } from '../command.js';
import { convertCommand } from './convert.js';
import { encodeCommand } from './encode.js';
import { evalGenCommand } from './eval-gen.js';
import { evalReconCommand } from './eval-recon.js';
import { infoCommand } from './info.js';
import { quickstartCommand } from './quickstart.js';
import { reconstructCommand } from './reconstruct.js';
import { sampleCommand } from './sample.js';
import { smoothnessCommand } from './smoothness.js';
import { studyCommand } from './study.js';
import { trainAeCommand } from './train-ae.js';
import { trainLdmCommand } from './train-ldm.js';

/** The subcommands of `ldmae`. */
export const commands: readonly CommandDefinition[] = [
  quickstartCommand,
  studyCommand,
  trainAeCommand,
  encodeCommand,
  trainLdmCommand,
  sampleCommand,
  reconstructCommand,
  evalReconCommand,
  evalGenCommand,
  smoothnessCommand,
  convertCommand,
  infoCommand,
];
