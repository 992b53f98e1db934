/**
 * Long runs: their ids, and what their results may carry across the process boundary.
 */

/** Drop undefined fields (they would cross the process boundary as explicit undefined). */
export function dropUndefined<T extends object>(o: T): T {
  for (const k of Object.keys(o) as Array<keyof T>) if (o[k] === undefined) delete o[k];
  return o;
}

/** A fresh run id. */
export function newRunId(prefix = 'run'): string {
  return `${prefix}-${Date.now().toString(36)}-${Math.floor(Math.random() * 1e9).toString(36)}`;
}
