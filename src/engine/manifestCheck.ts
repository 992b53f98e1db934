/**
 * Checks of varscope.json on its own (types, layout arithmetic) and of each graph against it.
 * Pure functions returning problems as sentences; the bundle loader turns them into ModelLoad errors.
 */
import type { BundleManifest, GraphRole, GraphSpec } from '../shared/manifest';
import { MANIFEST_VERSION } from '../shared/manifest';
import type { GraphIO } from './graph';

/** The graph roles every bundle carries. */
export const GRAPH_ROLES: GraphRole[] = ['encoder', 'quantizer', 'decoder', 'latentStep', 'transformer', 'transformerStep'];

/** Expected dims of a graph input/output: a number must match, null is any size (a dynamic axis). */
type Expect = Record<string, Array<number | null>>;

/** Problems of the manifest by itself (empty when it is sound). */
export function checkManifest(m: unknown): string[] {
  const p: string[] = [];
  if (typeof m !== 'object' || m === null) return ['is not a JSON object'];
  const b = m as Partial<BundleManifest>;
  if (b.format !== 'varscope-bundle') p.push(`format is ${JSON.stringify(b.format)}, expected "varscope-bundle"`);
  if (b.version !== MANIFEST_VERSION) p.push(`version is ${JSON.stringify(b.version)}, this VARScope reads version ${MANIFEST_VERSION}`);
  if (typeof b.id !== 'string' || !/^[A-Za-z0-9._-]+$/.test(b.id)) p.push('id must be a folder-safe string');
  for (const key of ['vae', 'var', 'patchNums', 'beginEnds', 'graphs', 'codebook', 'normalization', 'interpolation'] as const) {
    if (b[key] === undefined || b[key] === null) p.push(`${key} is missing`);
  }
  if (p.length) return p;
  const { vae, patchNums, beginEnds } = b as BundleManifest;
  if (!Array.isArray(patchNums) || patchNums.length === 0 || !patchNums.every((n) => Number.isInteger(n) && n > 0)) {
    return [...p, 'patchNums must be a non-empty list of positive integers'];
  }
  const SN = patchNums.length;
  let cur = 0;
  const be: Array<[number, number]> = patchNums.map((pn) => [cur, (cur += pn * pn)]);
  if (JSON.stringify(beginEnds) !== JSON.stringify(be)) p.push(`beginEnds ${JSON.stringify(beginEnds)} do not follow from patchNums (expected ${JSON.stringify(be)})`);
  if (b.tokenCount !== cur) p.push(`tokenCount is ${b.tokenCount}, patchNums give ${cur}`);
  for (const k of ['imageSize', 'latentSize', 'downsample', 'Cvae', 'vocabSize'] as const) {
    if (!Number.isInteger(vae[k]) || vae[k] <= 0) p.push(`vae.${k} must be a positive integer`);
  }
  if (vae.imageSize !== vae.latentSize * vae.downsample) p.push(`vae.imageSize ${vae.imageSize} != latentSize ${vae.latentSize} × downsample ${vae.downsample}`);
  if (patchNums[SN - 1] !== vae.latentSize) p.push(`the last patchNum ${patchNums[SN - 1]} must equal vae.latentSize ${vae.latentSize}`);
  const v = b.var!;
  for (const k of ['depth', 'embedDim', 'numHeads', 'numClasses', 'nullClass'] as const) {
    if (!Number.isInteger(v[k]) || v[k] < 0) p.push(`var.${k} must be a non-negative integer`);
  }
  if (v.embedDim % v.numHeads !== 0) p.push(`var.embedDim ${v.embedDim} is not divisible by numHeads ${v.numHeads}`);
  if (!Number.isInteger(b.firstL) || b.firstL! < 1) p.push('firstL must be a positive integer');
  if (!Array.isArray(b.phiIndexPerScale) || b.phiIndexPerScale.length !== SN) p.push(`phiIndexPerScale must have ${SN} entries (one per scale)`);
  const { up, down } = b.interpolation!;
  if (!Array.isArray(up) || !Array.isArray(down) || up.length !== SN || down.length !== SN) {
    p.push(`interpolation.up and .down must have ${SN} matrices`);
  } else {
    patchNums.forEach((pn, k) => {
      if (!isMatrix(up[k], vae.latentSize, pn)) p.push(`interpolation.up[${k}] must be ${vae.latentSize}x${pn}`);
      if (!isMatrix(down[k], pn, vae.latentSize)) p.push(`interpolation.down[${k}] must be ${pn}x${vae.latentSize}`);
    });
  }
  const cb = b.codebook!;
  if (!cb.file || JSON.stringify(cb.dims) !== JSON.stringify([vae.vocabSize, vae.Cvae]) || cb.dtype !== 'float32') {
    p.push(`codebook must be float32 [${vae.vocabSize}, ${vae.Cvae}] (vocabSize, Cvae), found ${cb.dtype} ${JSON.stringify(cb.dims)}`);
  }
  if (b.trainingHits && JSON.stringify(b.trainingHits.dims) !== JSON.stringify([SN, vae.vocabSize])) {
    p.push(`trainingHits must be [${SN}, ${vae.vocabSize}], found ${JSON.stringify(b.trainingHits.dims)}`);
  }
  const n = b.normalization!;
  if (!(n.std > 0) || !Array.isArray(n.background) || n.background.length !== 3) p.push('normalization needs std > 0 and an RGB background');
  for (const role of GRAPH_ROLES) {
    const g = b.graphs![role];
    if (!g || typeof g.file !== 'string' || typeof g.inputs !== 'object' || typeof g.outputs !== 'object') p.push(`graphs.${role} is missing or has no file/inputs/outputs`);
  }
  if (p.length) return p;
  for (const role of GRAPH_ROLES) p.push(...checkSpec(role, b.graphs![role], expectedIO(b as BundleManifest, role)));
  return p;
}

/** Problems of an opened graph against its manifest entry (names, dtypes, fixed dims). */
export function checkGraph(m: BundleManifest, role: GraphRole, inputs: GraphIO[], outputs: GraphIO[]): string[] {
  const spec = m.graphs[role];
  const p: string[] = [];
  const exp = expectedIO(m, role);
  const compare = (kind: 'input' | 'output', declared: GraphSpec['inputs'], actual: GraphIO[], e: Expect) => {
    const names = new Set(actual.map((a) => a.name));
    for (const name of Object.keys(declared)) if (!names.has(name)) p.push(`${kind} "${name}" declared in varscope.json is not in the graph (it has ${[...names].join(', ')})`);
    for (const a of actual) {
      const d = declared[a.name];
      if (!d) {
        if (kind === 'input') p.push(`graph ${kind} "${a.name}" is not declared in varscope.json`);
        continue;
      }
      if (a.dtype !== d.dtype) p.push(`${kind} "${a.name}" is ${a.dtype} in the graph, ${d.dtype} in varscope.json`);
      if (a.dims.length !== d.dims.length) {
        p.push(`${kind} "${a.name}" has rank ${a.dims.length} in the graph, ${d.dims.length} in varscope.json`);
        continue;
      }
      a.dims.forEach((dim, i) => {
        const want = e[a.name]?.[i] ?? (typeof d.dims[i] === 'number' ? (d.dims[i] as number) : null);
        if (typeof dim === 'number' && dim > 0 && want !== null && dim !== want) p.push(`${kind} "${a.name}" dim ${i} is ${dim} in the graph, the model needs ${want}`);
      });
    }
  };
  compare('input', spec.inputs, inputs, exp.inputs);
  compare('output', spec.outputs, outputs, exp.outputs);
  return p;
}

/** The dims each role needs, from the model facts of the manifest. */
function expectedIO(m: BundleManifest, role: GraphRole): { inputs: Expect; outputs: Expect } {
  const { Cvae: C, latentSize: h, imageSize: H, vocabSize: V } = m.vae;
  const L = m.tokenCount;
  const SN = m.patchNums.length;
  const { depth, numHeads: nh, embedDim } = m.var;
  const hd = embedDim / nh;
  const _ = null;
  switch (role) {
    case 'encoder':
      return { inputs: { image: [_, 3, H, H] }, outputs: { f: [_, C, h, h] } };
    case 'quantizer':
      return { inputs: { f: [1, C, h, h] }, outputs: { tokens: [1, L], fHat: [SN, C, h, h], varInput: [1, L - m.firstL, C], quantDist: [L, 2] } };
    case 'decoder':
      return { inputs: { fHat: [_, C, h, h] }, outputs: { image: [_, 3, H, H] } };
    case 'latentStep':
      return { inputs: { fHat: [1, C, h, h], tokens: [1, _], up: [h, _], down: [_, h], phiIndex: [] }, outputs: { fHatNext: [1, C, h, h], nextInput: [1, _, C] } };
    case 'transformer':
      return { inputs: { classLabel: [_], varInput: [_, L - m.firstL, C], attnLayer: [] }, outputs: { logits: [_, L, V], attn: [_, nh, L, L] } };
    case 'transformerStep':
      return {
        inputs: { classLabel: [_], x: [_, _, C], scaleIndex: [], pastKey: [depth, _, nh, _, hd], pastValue: [depth, _, nh, _, hd] },
        outputs: { logits: [_, _, V], presentKey: [depth, _, nh, _, hd], presentValue: [depth, _, nh, _, hd] },
      };
    default: {
      const never: never = role;
      throw new Error(`unknown role ${String(never)}`);
    }
  }
}

function checkSpec(role: GraphRole, spec: GraphSpec, exp: { inputs: Expect; outputs: Expect }): string[] {
  const p: string[] = [];
  for (const kind of ['inputs', 'outputs'] as const) {
    for (const [name, dims] of Object.entries(exp[kind])) {
      const d = spec[kind][name];
      if (!d) {
        p.push(`graphs.${role}.${kind} lacks "${name}"`);
        continue;
      }
      if (d.dims.length !== dims.length) {
        p.push(`graphs.${role}.${kind}.${name} has rank ${d.dims.length}, expected ${dims.length}`);
        continue;
      }
      dims.forEach((want, i) => {
        const got = d.dims[i];
        if (want !== null && typeof got === 'number' && got !== want) p.push(`graphs.${role}.${kind}.${name} dim ${i} is ${got}, the model needs ${want}`);
      });
    }
  }
  return p;
}

function isMatrix(x: unknown, rows: number, cols: number): boolean {
  return Array.isArray(x) && x.length === rows && x.every((r) => Array.isArray(r) && r.length === cols && r.every((v) => typeof v === 'number'));
}
