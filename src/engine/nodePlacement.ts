/**
 * Where onnxruntime placed a graph's nodes, read from its profile (onnxruntime-node 1.30 has no API for it; the
 * profile's node events name the provider that ran each node, and its verbose log goes to the native stderr).
 */
import type { NodePlacement } from '../shared/results';

/** onnxruntime's provider names -> the names VARScope uses (settings, status bar). */
const PROVIDER_NAMES: Record<string, string> = {
  CPUExecutionProvider: 'cpu',
  WebGpuExecutionProvider: 'webgpu',
  CUDAExecutionProvider: 'cuda',
  DmlExecutionProvider: 'dml',
  CoreMLExecutionProvider: 'coreml',
};

/** One event of onnxruntime's profile (Chrome trace format); node events end in `_kernel_time`. */
interface ProfileEvent {
  cat?: string;
  name?: string;
  args?: { op_name?: string; provider?: string; node_index?: string };
}

/** Nodes per provider with their op types, from the parsed profile of one or more runs (each node counted once). */
export function placementFromProfile(events: ProfileEvent[]): NodePlacement {
  const out: NodePlacement = {};
  const seen = new Set<string>();
  for (const e of events) {
    if (e.cat !== 'Node' || !e.name?.endsWith('_kernel_time') || !e.args?.provider) continue;
    if (seen.has(e.name)) continue; // a node that ran twice (e.g. in a loop) is still one node
    seen.add(e.name);
    const provider = PROVIDER_NAMES[e.args.provider] ?? e.args.provider;
    const op = e.args.op_name ?? '?';
    const p = (out[provider] ??= { nodes: 0, ops: {} });
    p.nodes++;
    p.ops[op] = (p.ops[op] ?? 0) + 1;
  }
  return out;
}

/** Described in words by src/shared (the status bar uses it too). */
export { describePlacement } from '../shared/nodePlacement';

/** Nodes placed on a provider other than `main`, not counting copies between host and device. */
export function nodesOffProvider(p: NodePlacement, main: string): number {
  let n = 0;
  for (const [name, { ops }] of Object.entries(p)) {
    if (name === main) continue;
    for (const [op, k] of Object.entries(ops)) if (!op.startsWith('Memcpy')) n += k;
  }
  return n;
}
