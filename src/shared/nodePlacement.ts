/** Where a graph's nodes ran, in words: the engine logs it and the status bar's tooltip shows it. */
import type { NodePlacement } from './results';

/**
 * One line: `webgpu 27 nodes, cpu 5 nodes (Gather 2, Concat, Reshape, Unsqueeze)`. The graph's own provider first
 * without op types; for each other provider its op types, most frequent first.
 */
export function describePlacement(p: NodePlacement, main: string): string {
  const names = Object.keys(p).sort((a, b) => (a === main ? -1 : b === main ? 1 : p[b].nodes - p[a].nodes));
  return names
    .map((name) => {
      const { nodes, ops } = p[name];
      const head = `${name} ${nodes} node${nodes === 1 ? '' : 's'}`;
      if (name === main) return head;
      const list = Object.entries(ops)
        .sort((a, b) => b[1] - a[1] || a[0].localeCompare(b[0]))
        .map(([op, n]) => (n > 1 ? `${op} ${n}` : op));
      return `${head} (${list.join(', ')})`;
    })
    .join(', ');
}

/** Nodes placed on a provider other than `main`, not counting copies between host and device. */
export function nodesOffProvider(p: NodePlacement, main: string): number {
  let n = 0;
  for (const [name, { ops }] of Object.entries(p)) {
    if (name === main) continue;
    for (const [op, k] of Object.entries(ops)) if (!op.startsWith('Memcpy')) n += k;
  }
  return n;
}
