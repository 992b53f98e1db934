/** Run ids: a long run (generation, edit, folder pass) is named by one, so its streamed events and its cancel find it. */

/** A fresh run id, `PREFIX-TIME-RANDOM` in base 36. */
export function newRunId(prefix = 'run'): string {
  return `${prefix}-${Date.now().toString(36)}-${Math.floor(Math.random() * 1e9).toString(36)}`;
}
