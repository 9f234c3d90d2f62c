/**
 * Node side of model loading: a local folder as a {@link FolderSource}, how a path becomes a source
 * for the model registries, and saving an autoencoder of any registered kind.
 */
import { mkdir, readdir, readFile, stat, unlink } from 'node:fs/promises';
import { join } from 'node:path';
import {
  type FileOperationError,
  fsStep,
  readFileBytes,
  removeStaleTempFiles,
  saveCheckpoint,
  writeFileAtomic,
} from '@ldmae/io';
import * as tf from '@tensorflow/tfjs-core';
import type { Autoencoder } from './autoencoder.js';
import { checkFolderEntryName, type FolderSource, type FolderStore } from './folder.js';
import { autoencoderCheckpoint, setNodeFolders } from './registry.js';

/**
 * The local folder `path` as a {@link FolderStore}: a missing file reads as null; writes are atomic
 * (temporary file, fsync, rename; the folder is created on the first write, and temporary files of
 * killed writes are removed then).
 */
export function localFolder(path: string): FolderStore {
  if (typeof path !== 'string' || !path) throw new TypeError('localFolder: path must be a folder path');
  const where = `localFolder '${path}'`;
  const file = (name: string) => {
    checkFolderEntryName(name, where);
    return join(path, ...name.split('/'));
  };
  let created = false;
  return {
    location: path,
    read: async (name) => {
      try {
        return new Uint8Array(await readFile(file(name)));
      } catch (e) {
        const code = (e as NodeJS.ErrnoException).code;
        if (code === 'ENOENT' || code === 'ENOTDIR') return null;
        throw new Error(`cannot read '${file(name)}': ${(e as Error).message}`);
      }
    },
    write: async (name, data) => {
      const target = file(name);
      if (!created) {
        await fsStep('create the folder', path, () => mkdir(path, { recursive: true }));
        await removeStaleTempFiles(path);
        created = true;
      }
      await writeFileAtomic(target, data, name);
    },
    remove: async (name) => {
      const target = file(name);
      await fsStep('remove', target, () => unlink(target)).catch((e: FileOperationError) => {
        if (e.code !== 'ENOENT') throw e;
      });
    },
    list: async () => {
      try {
        return (await readdir(path, { withFileTypes: true })).filter((d) => d.isFile()).map((d) => d.name);
      } catch {
        return [];
      }
    },
  };
}

/** A path as the registries read it: a folder, or the bytes of a file. */
async function resolvePath(path: string): Promise<FolderSource | { bytes: Uint8Array; location: string }> {
  const st = await stat(path).catch(() => null);
  if (!st) throw new Error(`'${path}' does not exist (expected a checkpoint file or folder)`);
  if (st.isDirectory()) return localFolder(path);
  return { bytes: await readFileBytes(path), location: path };
}

setNodeFolders({ resolve: resolvePath, store: localFolder });

/**
 * Save an autoencoder of any registered kind (VMAE, the baselines, your own registered kind) with its
 * configuration and latent normalisation, atomically (see `saveCheckpoint`): one `.safetensors` file
 * when `path` ends in `.safetensors`, a checkpoint folder otherwise. `loadAutoencoder(path)` reads it.
 */
export async function saveAutoencoder(path: string, ae: Autoencoder): Promise<void> {
  const payload = autoencoderCheckpoint(ae);
  try {
    await saveCheckpoint(path, payload);
  } finally {
    tf.dispose(Object.values(payload.tensors));
  }
}
