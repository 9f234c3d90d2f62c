/** `ldmae convert IN OUT`: tensor files between safetensors, PyTorch .pth, .npz and .npy. */
import { stat } from 'node:fs/promises';
import { convertFile, FileOperationError, formatFromPath } from '@ldmae/core';
import { defineCommand } from '../command.js';
import { CliError, UsageError } from '../errors.js';

export const convertCommand = defineCommand({
  name: 'convert',
  summary: 'convert a tensor file between .safetensors, .pth, .npz and .npy',
  arguments: [
    { name: '<input>', description: 'tensor file to read (.safetensors, .pth/.pt/.bin, .npz, .npy)' },
    { name: '<output>', description: 'file to write; its extension picks the format' },
  ],
  details: `Formats come from the extensions (--sniff reads the input format from its content instead).
Half-precision tensors stay half where the target format allows. The output is written atomically.
.pth files are read with a safe allow-list unpickler: training checkpoints that pickle other objects
beside the weights (MAE-style checkpoints save their argparse.Namespace as 'args') need
--stub-unknown-globals, which keeps such objects as inert placeholders; nothing is ever executed.
Example (the authors' VMAE checkpoint, weights under 'model'):
  ldmae convert vmaef8d16.pth vmaef8d16.safetensors --select model --stub-unknown-globals`,
  needsBackend: false,
  specs: [
    {
      key: 'sniff',
      type: 'boolean',
      description: 'detect the input format from its bytes, not its extension',
    },
    {
      key: 'select',
      type: 'string',
      description: "keep only the tensors under this dotted prefix and strip it (e.g. 'model' or 'ema')",
    },
    {
      key: 'stubUnknownGlobals',
      type: 'boolean',
      description:
        '.pth: keep pickled objects outside the allow-list as inert placeholders instead of failing',
    },
  ],
  async run(opts, ctx, [input, output]) {
    for (const [p, name] of [
      [input, '<input>'],
      [output, '<output>'],
    ] as const) {
      if (name === '<input>' && opts.sniff) continue;
      try {
        formatFromPath(p);
      } catch (e) {
        throw new UsageError(`${name} '${p}': ${(e as Error).message}`);
      }
    }
    if (!(await stat(input).catch(() => null))) throw new CliError(`<input> '${input}' does not exist`);
    const t0 = performance.now();
    let r: { tensors: number; bytes: number };
    try {
      r = await convertFile(input, output, {
        ...(opts.sniff ? { inFormat: 'auto' as const } : {}),
        ...(opts.select ? { select: opts.select } : {}),
        ...(opts.stubUnknownGlobals ? { unknownGlobals: 'stub' as const } : {}),
      });
    } catch (e) {
      // Writing the output failed (a folder in the way, a full disk): the error names that file.
      if (e instanceof FileOperationError) throw new CliError(`convert: ${e.message}`, { cause: e });
      const msg = (e as Error).message;
      throw new CliError(`convert: cannot convert '${input}': ${msg}`, {
        cause: e,
        hint: /refusing pickle global/.test(msg)
          ? '--stub-unknown-globals keeps such objects as inert placeholders (nothing is executed)'
          : undefined,
      });
    }
    const seconds = (performance.now() - t0) / 1000;
    ctx.reporter.result(
      { input, output, tensors: r.tensors, bytes: r.bytes, seconds },
      `wrote ${output}: ${r.tensors} tensors, ${r.bytes} bytes in ${seconds.toFixed(2)} s`,
    );
  },
});
