/** The TypeScript checkpoint reader: torch.save zip files and safetensors, streamed tensor by tensor. */
export { isCheckpointComplete, readCheckpoint } from './readCheckpoint';
export { toFloat32 } from './tensorRead';
export type { CheckpointContents, CheckpointRole, StateDict, TensorDtype, TensorEntry } from './types';
export { ITEM_SIZE } from './types';
export { FileChangedError } from './checkpointFile';
