/**
 * @ldmae/io for Node: everything of the default entry plus files: tensor files by extension, format
 * conversion, atomic writes and crash-safe checkpoints.
 * @packageDocumentation
 */

export * from './index.js';
export * from './node.js';
