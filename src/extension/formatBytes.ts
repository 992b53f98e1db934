/** Sizes for people: the checkpoint cache says how much it freed. */

/** "512 bytes", "12.3 kB", "12.3 MB", "1.23 GB" (decimal units). */
export function formatBytes(n: number): string {
  if (n < 1e3) return `${n} bytes`;
  if (n < 1e6) return `${(n / 1e3).toFixed(1)} kB`;
  if (n < 1e9) return `${(n / 1e6).toFixed(1)} MB`;
  return `${(n / 1e9).toFixed(2)} GB`;
}
