/**
 * The file-system half of @ldmae/core (atomic checkpoint files, reading files), reached through the
 * package namespace: in Node the `node` export condition loads core's Node entry, which has these
 * functions, while TypeScript's bundler resolution only sees the browser-safe typings. In a browser
 * the accessor fails with a clear message instead of breaking the bundle.
 */

import type { CheckpointPayload, HostTensorDict } from '@ldmae/core';
import * as core from '@ldmae/core';

/** The Node-only functions of @ldmae/core this package uses. */
export interface NodeCoreIo {
  saveCheckpoint(path: string, payload: CheckpointPayload): Promise<void>;
  loadCheckpoint(path: string): Promise<CheckpointPayload>;
  loadCheckpointHost(path: string): Promise<{ tensors: HostTensorDict; metadata: Record<string, string> }>;
  readFileBytes(path: string): Promise<Uint8Array>;
}

/** Core's Node file functions; throws (naming `where`) outside Node. */
export function nodeCoreIo(where: string): NodeCoreIo {
  const c = core as unknown as Partial<NodeCoreIo>;
  for (const name of ['saveCheckpoint', 'loadCheckpoint', 'loadCheckpointHost', 'readFileBytes'] as const) {
    if (typeof c[name] !== 'function') {
      throw new Error(
        `${where}: file paths need Node (@ldmae/core's Node entry); in a browser pass bytes or a payload instead`,
      );
    }
  }
  return c as NodeCoreIo;
}
