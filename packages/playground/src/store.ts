/**
 * Checkpoints kept in the browser's IndexedDB: the files of each loaded checkpoint, under a name, so
 * they can be loaded again after a reload without picking or fetching them.
 */
import type { CheckpointFile } from './checkpoint.js';

const DB_NAME = 'ldmae-playground';
const STORE = 'checkpoints';

/** One stored checkpoint. */
export interface StoredCheckpoint {
  name: string;
  /** ISO time it was stored. */
  savedAt: string;
  files: CheckpointFile[];
}

/** What {@link listCheckpoints} gives per checkpoint. */
export interface StoredSummary {
  name: string;
  savedAt: string;
  bytes: number;
}

function request<T>(r: IDBRequest<T>): Promise<T> {
  return new Promise((resolve, reject) => {
    r.onsuccess = () => resolve(r.result);
    r.onerror = () => reject(r.error ?? new Error('IndexedDB request failed'));
  });
}

function openDb(): Promise<IDBDatabase> {
  if (typeof indexedDB === 'undefined') return Promise.reject(new Error('IndexedDB is not available'));
  const r = indexedDB.open(DB_NAME, 1);
  r.onupgradeneeded = () => {
    if (!r.result.objectStoreNames.contains(STORE)) r.result.createObjectStore(STORE, { keyPath: 'name' });
  };
  return request(r);
}

async function withStore<T>(mode: IDBTransactionMode, fn: (s: IDBObjectStore) => IDBRequest<T>): Promise<T> {
  const db = await openDb();
  try {
    const tx = db.transaction(STORE, mode);
    const result = await request(fn(tx.objectStore(STORE)));
    await new Promise<void>((resolve, reject) => {
      tx.oncomplete = () => resolve();
      tx.onerror = () => reject(tx.error ?? new Error('IndexedDB transaction failed'));
      tx.onabort = () => reject(tx.error ?? new Error('IndexedDB transaction aborted'));
    });
    return result;
  } finally {
    db.close();
  }
}

/** Store (or replace) the checkpoint `name`. */
export async function saveStored(name: string, files: CheckpointFile[]): Promise<void> {
  const rec: StoredCheckpoint = { name, savedAt: new Date().toISOString(), files };
  await withStore('readwrite', (s) => s.put(rec));
}

/** The stored checkpoint `name`, or null. */
export async function getStored(name: string): Promise<StoredCheckpoint | null> {
  return ((await withStore('readonly', (s) => s.get(name))) as StoredCheckpoint | undefined) ?? null;
}

/** Every stored checkpoint, newest first. */
export async function listStored(): Promise<StoredSummary[]> {
  const all = (await withStore('readonly', (s) => s.getAll())) as StoredCheckpoint[];
  return all
    .map((c) => ({
      name: c.name,
      savedAt: c.savedAt,
      bytes: c.files.reduce((n, f) => n + f.bytes.length, 0),
    }))
    .sort((a, b) => b.savedAt.localeCompare(a.savedAt));
}

/** Delete the stored checkpoint `name` (nothing happens when there is none). */
export async function deleteStored(name: string): Promise<void> {
  await withStore('readwrite', (s) => s.delete(name));
}
