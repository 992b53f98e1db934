/**
 * Consistency warnings: where what a model was trained with and what it is run with disagree (its classes and a
 * folder's labels, a trainer checkpoint's args and its bundle, say). Each is one line that names both sides; results
 * carry them (the CLI's JSON, the panel).
 */

/** One mismatch. */
export interface ConsistencyWarning {
  /** Which check found it: a folder's labels against the classes, or a trainer checkpoint against its bundle. */
  check: 'folderClasses' | 'labelsUnused' | 'patchNums' | 'depth' | 'numClasses' | 'samplingArgs' | 'vaePair';
  /** The model's side, e.g. "11 classes". */
  model: string;
  /** The side it is run with, e.g. "3 class sub-folders". */
  given: string;
  /** The line shown: both sides and what follows from them. */
  message: string;
}
