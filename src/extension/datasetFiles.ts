/**
 * The files the dataset commands read and write: saved evaluations (their format is src/shared/evaluationFile's), the
 * checkpoints of a training run, and whether a folder of images is an ImageFolder (class sub-folders).
 */
import * as fs from 'fs';
import * as path from 'path';
import { writeFileAtomic } from '../node/atomicWrite';
import { listCheckpoints, type Checkpoint } from '../node/checkpointList';
import type { AnyDatasetEvaluation } from '../shared/evaluation';
import { evaluationFiles, parseEvaluationFile } from '../shared/evaluationFile';
import { VarScopeError } from '../shared/errors';

/** A checkpoint of a run: a bundle, or a PyTorch file still to export. */
export type { Checkpoint };

/** File access of the dataset commands. */
export interface DatasetFiles {
  /** The evaluations of a saved result (one evaluation, or a timeline's list); BadRequest when it is neither. */
  read(file: string): AnyDatasetEvaluation[];
  /** Writes a result as FILE.json, FILE.csv (per scale) and FILE-images.csv (per image), each whole or not at all. */
  save(r: AnyDatasetEvaluation, jsonFile: string): Promise<void>;
  /** The checkpoints in a folder: the folder itself when it is a bundle, else its bundle sub-folders and .pth files. */
  checkpoints(dir: string): Checkpoint[];
  /** Whether a file (or folder) is there. */
  exists(file: string): boolean;
  /** Whether a folder has sub-folders (an ImageFolder: they are the classes). */
  hasSubfolders(folder: string): boolean;
}

/** The dataset commands' files on the local disk. */
export const datasetFiles: DatasetFiles = {
  read(file) {
    let text: string;
    try {
      text = fs.readFileSync(file, 'utf8');
    } catch (e) {
      throw new VarScopeError('BadRequest', `${path.basename(file)} is not a readable JSON file: ${(e as Error).message}`);
    }
    return parseEvaluationFile(text, path.basename(file));
  },
  async save(r, jsonFile) {
    for (const f of evaluationFiles(r, jsonFile)) await writeFileAtomic(f.file, f.text);
  },
  checkpoints: (dir) => listCheckpoints(dir),
  exists: (file) => fs.existsSync(file),
  hasSubfolders: (folder) => fs.readdirSync(folder, { withFileTypes: true }).some((e) => e.isDirectory()),
};
