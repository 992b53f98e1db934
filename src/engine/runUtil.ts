/**
 * Small helpers shared by long runs.
 */

/** Drop undefined fields (they would cross the process boundary as explicit undefined). */
export function dropUndefined<T extends object>(o: T): T {
  for (const k of Object.keys(o) as Array<keyof T>) if (o[k] === undefined) delete o[k];
  return o;
}

/** Made in src/shared (the extension names its runs too). */
export { newRunId } from '../shared/runId';
