/** `ldmae info`: the backend a run would use, its threads, the machine and the package versions. */
import { defineCommand } from '../command.js';
import { packageVersions } from '../runtime.js';

export const infoCommand = defineCommand({
  name: 'info',
  summary: 'show the backend, threads, machine and package versions',
  details: `Sets up the backend as any other command would (--backend auto picks tfjs-node-gpu, WebGPU on a
hardware GPU, tfjs-node, wasm, then cpu) and reports it, with the GPU adapter for WebGPU and the threads wasm computes with
(--threads; default: the CPUs, 1 to 8) and how many of them run XNNPACK's pool (--xnnpack-threads; default: half the CPUs).`,
  specs: [],
  async run(_opts, ctx) {
    const rt = ctx.runtime;
    const versions = packageVersions();
    const lines = [
      `backend   ${rt.backend}`,
      ...(rt.adapter ? [`adapter   ${rt.adapter}`] : []),
      `threads   ${rt.threads}${rt.xnnpackThreads !== undefined ? ` (XNNPACK's pool: ${rt.xnnpackThreads})` : ''}`,
      `cpus      ${rt.cpus} (${rt.cpuModel})`,
      `node      ${rt.node} (${rt.platform})`,
      'packages',
      ...Object.entries(versions).map(([k, v]) => `  ${k.padEnd(30)} ${v}`),
    ];
    ctx.reporter.result({ ...rt, versions }, lines.join('\n'));
  },
});
