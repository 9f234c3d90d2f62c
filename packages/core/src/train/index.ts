// Barrel of train/: what users of core's training loop need.
export {
  CHECKPOINT_FORMAT,
  CHECKPOINT_FORMAT_VERSION,
  type CheckpointPayload,
  disposeCheckpointPayload,
  type MakeCheckpointOptions,
  makeCheckpointPayload,
  type RestoreCheckpointOptions,
  type RestoredCheckpoint,
  restoreCheckpointPayload,
} from './checkpoint-payload.js';
export {
  type BatchSource,
  type LossFn,
  type LossOutput,
  type OpenAtStep,
  type StopReason,
  type TrainCheckpointOptions,
  type TrainOptions,
  type TrainResult,
  type TrainRunOptions,
  train,
} from './loop.js';
export {
  EtaMeter,
  type EtaMeterOptions,
  type Progress,
  type ProgressCallback,
  type TrainProgressEvent,
} from './progress.js';
