/**
 * Checks of varscope.json on its own (types, layout arithmetic) and of each graph against it.
 * Pure functions returning problems as sentences; the bundle loader turns them into ModelLoad errors.
 */
import graphSpecJson from '../../shared/graphSpec.json';
import type {
  BundleManifest,
  FileHash,
  GraphRole,
  GraphSpec,
  GraphSpecEntry,
  GraphSpecTable,
  InfinityManifest,
} from '../../shared/manifest';
import { MANIFEST_VERSION } from '../../shared/manifest';
import { oneLine, VarScopeError } from '../../shared/errors';
import { brief, familyProblem, INFINITY_MANIFEST_SCHEMA, isObject, manifestFamily, schemaProblems } from '../../node/manifestSchema';
import type { GraphIO } from '../runtime/graph';
import type { Initializer } from './onnxInitializers';

/** The graph input/output table (src/shared/graphSpec.json, also read by the exporter). */
export const GRAPH_SPEC = graphSpecJson as unknown as GraphSpecTable;

/** The graph roles every bundle carries, in the table's order. */
export const GRAPH_ROLES = Object.keys(GRAPH_SPEC.graphs) as GraphRole[];

/**
 * The graphSpec.json entry a graph of `role` follows, by its output names: the legacy entry when they are exactly the
 * legacy graph's (a bundle of an earlier exporter, e.g. the transformerStep without scaleKey), else the current one.
 */
export function specEntry(role: GraphRole, outputNames: Iterable<string>): GraphSpecEntry {
  const legacy = GRAPH_SPEC.legacyGraphs[role];
  const names = [...outputNames].sort();
  if (legacy && JSON.stringify(Object.keys(legacy.outputs).sort()) === JSON.stringify(names)) return legacy;
  return GRAPH_SPEC.graphs[role];
}

/** How to make a bundle of this format again from its checkpoints (named in refusals). */
export const REEXPORT_HINT =
  're-export it with `varscope export --vae VAE.pth --var VAR.pth --out DIR` (checkpoints of a bundle: `PYTHONPATH=python python3 -m varscope.from_bundle --bundle DIR --out CKPT_DIR`)';

/** Expected dims of a graph input/output: a number must match, null is any size (a dynamic axis). */
type Expect = Record<string, Array<number | null>>;

/**
 * Deepest nesting a manifest may have. A VARScope manifest nests 6 levels (graphs.encoder.inputs.image.dims); the
 * cap leaves room for free-form provenance and keeps anything that walks the parsed value from running out of stack.
 */
export const MAX_MANIFEST_DEPTH = 64;

/**
 * varscope.json's text as a checked manifest, or a ModelLoad error whose message is one line naming `file` and the
 * first problem (every problem in its detail). Nesting is bounded before parsing; see checkManifest for the rest.
 */
export function parseManifest(text: string, file: string): BundleManifest {
  const m = parseAnyManifest(text, file);
  if (isInfinityManifest(m)) throw new VarScopeError('ModelLoad', `${file}: ${INFINITY_NOT_VAR}`);
  return m;
}

/** A manifest of either family (checked for its family). */
export type AnyManifest = BundleManifest | InfinityManifest;

/** Whether a checked manifest is an Infinity bundle's. */
export function isInfinityManifest(m: AnyManifest): m is InfinityManifest {
  return (m as { family?: unknown }).family === 'infinity';
}

/** What a VAR-only reader says of an Infinity bundle. */
export const INFINITY_NOT_VAR = 'an Infinity bundle, where a VAR bundle is needed';

/** parseManifest for a bundle of any family this engine opens. */
export function parseAnyManifest(text: string, file: string): AnyManifest {
  const deep = nestedTooDeep(text, MAX_MANIFEST_DEPTH);
  if (deep >= 0)
    throw new VarScopeError(
      'ModelLoad',
      `${file}: nested more than ${MAX_MANIFEST_DEPTH} levels deep (at character ${deep}); a VARScope manifest nests 6`,
    );
  let m: unknown;
  try {
    m = JSON.parse(text);
  } catch (e) {
    throw new VarScopeError('ModelLoad', `${file}: not valid JSON (${oneLine(e instanceof Error ? e.message : String(e))})`);
  }
  const problems = checkManifest(m);
  if (problems.length) throw new VarScopeError('ModelLoad', `${file}: ${problems[0]}`, problems.join('\n'));
  return m as AnyManifest;
}

/** Index of the first bracket past `limit` levels of nesting (strings skipped), or -1. Linear, no recursion. */
export function nestedTooDeep(text: string, limit: number): number {
  let depth = 0;
  let inString = false;
  for (let i = 0; i < text.length; i++) {
    const c = text.charCodeAt(i);
    if (inString) {
      // A backslash escapes the next character.
      if (c === 0x5c) i++;
      else if (c === 0x22) inString = false;
    } else if (c === 0x22) inString = true;
    else if (c === 0x5b || c === 0x7b) {
      if (++depth > limit) return i;
    } else if (c === 0x5d || c === 0x7d) depth--;
  }
  return -1;
}

/** The recorded hash of a bundle file (own entries of `files` only), or undefined. */
export function fileHash(m: Pick<BundleManifest, 'files'>, rel: string): FileHash | undefined {
  return Object.hasOwn(m.files, rel) ? m.files[rel] : undefined;
}

/**
 * Problems of the manifest by itself (empty when it is sound): format, model family and version first (another
 * family or version may lay its fields out differently), then every field against MANIFEST_SCHEMA, then the relations
 * between fields.
 */
export function checkManifest(m: unknown): string[] {
  if (!isObject(m)) return [`is not a JSON object (got ${brief(m)})`];
  const p: string[] = [];
  const format = Object.hasOwn(m, 'format') ? m.format : undefined;
  const version = Object.hasOwn(m, 'version') ? m.version : undefined;
  if (format !== 'varscope-bundle') p.push(`format is ${brief(format)}, expected "varscope-bundle"`);
  const family = familyProblem(m);
  if (family && !p.length) return [family];
  if (version === 1)
    return [
      `this bundle has format 1 (an older VARScope: stored attention mask, no file hashes); this VARScope reads format ${MANIFEST_VERSION}: ${REEXPORT_HINT}`,
    ];
  if (version !== MANIFEST_VERSION) p.push(`version is ${brief(version)}, this VARScope reads version ${MANIFEST_VERSION}`);
  if (p.length) return p;
  if (manifestFamily(m) === 'infinity') {
    p.push(...schemaProblems(m, INFINITY_MANIFEST_SCHEMA));
    return p.length ? p : infinityRelationProblems(m as unknown as InfinityManifest);
  }
  p.push(...schemaProblems(m));
  if (p.length) return p;
  return relationProblems(m as unknown as BundleManifest);
}

/** Problems between the fields of an Infinity manifest whose fields each passed INFINITY_MANIFEST_SCHEMA. */
function infinityRelationProblems(m: InfinityManifest): string[] {
  const p: string[] = [];
  if (m.vae.codebookDim !== m.bits) p.push(`vae.codebookDim ${m.vae.codebookDim} != bits ${m.bits} (one latent channel per bit)`);
  const { embedDim, numHeads, headDim } = m.infinity;
  if (numHeads * headDim !== embedDim) p.push(`infinity.numHeads ${numHeads} × headDim ${headDim} != embedDim ${embedDim}`);
  const [rows, width] = m.unconditionalText.dims;
  if (m.unconditionalText.dims.length !== 2 || rows !== m.text.maxLength || width !== m.text.featureWidth)
    p.push(`unconditionalText.dims ${brief(m.unconditionalText.dims)} must be [text.maxLength, text.featureWidth]`);
  const te = m.textEncoder;
  if (te) {
    const out = te.outputs.last_hidden_state?.dims;
    const ids = te.inputs.input_ids;
    if (!ids || ids.dtype !== 'int64' || !te.inputs.attention_mask || !out || out[out.length - 1] !== width)
      p.push(
        `textEncoder must take input_ids and attention_mask (int64) and give last_hidden_state [1, N, text.featureWidth ${width}] (its outputs: ${brief(te.outputs)})`,
      );
  }
  const ids = new Set<string>();
  m.schedules.forEach((s, i) => {
    const at = `schedules[${i}] (${s.id})`;
    if (ids.has(s.id)) p.push(`${at}: id used twice`);
    ids.add(s.id);
    let cur = 0;
    const be = s.scales.map(([t, h, w]) => [cur, (cur += t * h * w)]);
    if (s.beginEnds.length !== be.length || be.some(([b, e], k) => s.beginEnds[k][0] !== b || s.beginEnds[k][1] !== e))
      p.push(`${at}: beginEnds ${brief(s.beginEnds)} do not follow from scales`);
    if (s.tokenCount !== cur) p.push(`${at}: tokenCount is ${s.tokenCount}, scales give ${cur}`);
    const [, h, w] = s.scales[s.scales.length - 1];
    if (s.latentSize[0] !== h || s.latentSize[1] !== w)
      p.push(`${at}: latentSize ${brief(s.latentSize)} is not the last scale [${h}, ${w}]`);
    const down = m.vae.downsample;
    if (s.pixelSize[0] !== h * down || s.pixelSize[1] !== w * down)
      p.push(`${at}: pixelSize ${brief(s.pixelSize)} is not the last scale × vae.downsample [${h * down}, ${w * down}]`);
  });
  return p;
}

/** Problems between fields of a manifest whose fields each passed the schema. */
function relationProblems(b: BundleManifest): string[] {
  const p: string[] = [];
  const { vae, var: v, patchNums } = b;
  const SN = patchNums.length;
  let cur = 0;
  const be: Array<[number, number]> = patchNums.map((pn) => [cur, (cur += pn * pn)]);
  const wrong = be.findIndex(([s, e], k) => b.beginEnds[k]?.[0] !== s || b.beginEnds[k]?.[1] !== e);
  if (wrong >= 0 || b.beginEnds.length !== SN)
    p.push(
      `beginEnds ${brief(b.beginEnds)} do not follow from patchNums (${wrong >= 0 ? `entry ${wrong} should be [${be[wrong]}]` : `${SN} entries, one per scale`})`,
    );
  if (b.tokenCount !== cur) p.push(`tokenCount is ${b.tokenCount}, patchNums give ${cur}`);
  // VAR: first_l = patch_nums[0] ** 2, the tokens before the first predicted scale's input.
  if (b.firstL !== patchNums[0] ** 2) p.push(`firstL is ${b.firstL}, patchNums give ${patchNums[0] ** 2} (the first scale's tokens)`);
  if (vae.imageSize !== vae.latentSize * vae.downsample)
    p.push(`vae.imageSize ${vae.imageSize} != latentSize ${vae.latentSize} × downsample ${vae.downsample}`);
  if (patchNums[SN - 1] !== vae.latentSize) p.push(`the last patchNum ${patchNums[SN - 1]} must equal vae.latentSize ${vae.latentSize}`);
  if (v.embedDim % v.numHeads !== 0) p.push(`var.embedDim ${v.embedDim} is not divisible by numHeads ${v.numHeads}`);
  // The class embedding has numClasses + 1 rows, the last one the "no class" of CFG (official VAR).
  if (v.nullClass !== v.numClasses)
    p.push(`var.nullClass is ${v.nullClass}, it must be numClasses (${v.numClasses}): the class embedding's last row is "no class"`);
  if (b.phiIndexPerScale.length !== SN) p.push(`phiIndexPerScale must have ${SN} entries (one per scale)`);
  if (!b.phiIndexPerScale.every((i) => i < Math.max(1, vae.phiCount)))
    p.push(`phiIndexPerScale entries must be integers in 0..${Math.max(1, vae.phiCount) - 1} (vae.phiCount ${vae.phiCount})`);
  const { up, down } = b.interpolation;
  if (up.length !== SN || down.length !== SN) {
    p.push(`interpolation.up and .down must have ${SN} matrices`);
  } else {
    patchNums.forEach((pn, k) => {
      if (!isMatrix(up[k], vae.latentSize, pn)) p.push(`interpolation.up[${k}] must be ${vae.latentSize}x${pn}`);
      if (!isMatrix(down[k], pn, vae.latentSize)) p.push(`interpolation.down[${k}] must be ${pn}x${vae.latentSize}`);
    });
  }
  const cb = b.codebook;
  if (JSON.stringify(cb.dims) !== JSON.stringify([vae.vocabSize, vae.Cvae]))
    p.push(`codebook must be float32 [${vae.vocabSize}, ${vae.Cvae}] (vocabSize, Cvae), found ${cb.dtype} ${brief(cb.dims)}`);
  if (b.trainingHits && JSON.stringify(b.trainingHits.dims) !== JSON.stringify([SN, vae.vocabSize]))
    p.push(`trainingHits must be [${SN}, ${vae.vocabSize}], found ${brief(b.trainingHits.dims)}`);
  if (p.length) return p;
  for (const role of GRAPH_ROLES)
    p.push(...checkSpec(role, b.graphs[role], expectedIO(b, specEntry(role, Object.keys(b.graphs[role].outputs)))));
  return p;
}

/**
 * Problems of an opened graph against its manifest entry (names, dtypes, fixed dims) and of the model facts against
 * the graph's own shapes: its inputs and outputs (written by the exporter) and the initializers of graphSpec.json.
 */
export function checkGraph(
  m: BundleManifest,
  role: GraphRole,
  inputs: GraphIO[],
  outputs: GraphIO[],
  initializers: Initializer[] = [],
): string[] {
  const spec = m.graphs[role];
  const p: string[] = [];
  const entry = specEntry(
    role,
    outputs.map((o) => o.name),
  );
  const exp = expectedIO(m, entry);
  const compare = (kind: 'input' | 'output', declared: GraphSpec['inputs'], actual: GraphIO[], e: Expect) => {
    const names = new Set(actual.map((a) => a.name));
    for (const name of Object.keys(declared))
      if (!names.has(name))
        p.push(`${kind} ${brief(name)} declared in varscope.json is not in the graph (it has ${[...names].map(brief).join(', ')})`);
    for (const a of actual) {
      const d = Object.hasOwn(declared, a.name) ? declared[a.name] : undefined;
      if (!d) {
        if (kind === 'input') p.push(`graph ${kind} ${brief(a.name)} is not declared in varscope.json`);
        continue;
      }
      if (a.dtype !== d.dtype) p.push(`${kind} ${brief(a.name)} is ${a.dtype} in the graph, ${d.dtype} in varscope.json`);
      if (a.dims.length !== d.dims.length) {
        p.push(`${kind} ${brief(a.name)} has rank ${a.dims.length} in the graph, ${d.dims.length} in varscope.json`);
        continue;
      }
      a.dims.forEach((dim, i) => {
        const want =
          (Object.hasOwn(e, a.name) ? e[a.name][i] : undefined) ?? (typeof d.dims[i] === 'number' ? (d.dims[i] as number) : null);
        if (typeof dim === 'number' && dim > 0 && want !== null && dim !== want)
          p.push(`${kind} ${brief(a.name)} dim ${i} is ${dim} in the graph, the model needs ${want}`);
      });
    }
  };
  compare('input', spec.inputs, inputs, exp.inputs);
  compare('output', spec.outputs, outputs, exp.outputs);
  const byName = new Map(initializers.map((t) => [t.name, t]));
  const f = manifestFacts(m);
  for (const [name, dims] of Object.entries(entry.initializers ?? {})) {
    const t = byName.get(name) ?? byName.get(`${name}.fp16`);
    const want = dims.map((d) => resolveDim(d, f));
    if (!t) p.push(`the graph has no initializer ${name} (${describe(name)})`);
    else if (JSON.stringify(t.dims) !== JSON.stringify(want))
      p.push(`${describe(name)}: the graph's ${name} is [${t.dims}], varscope.json implies [${want}]`);
  }
  return p;
}

/** What a fact-bearing initializer tells, for messages. */
function describe(name: string): string {
  if (name.includes('class_emb')) return 'var.numClasses + 1 rows (nullClass), var.embedDim columns';
  if (name.includes('pos_1LC')) return 'tokenCount positions of var.embedDim';
  if (name.includes('embedding')) return 'vae.vocabSize codes of vae.Cvae';
  return name;
}

/** Values of graphSpec.json's facts for a manifest. */
export function manifestFacts(m: BundleManifest): Record<string, number> {
  return {
    C: m.vae.Cvae,
    h: m.vae.latentSize,
    H: m.vae.imageSize,
    V: m.vae.vocabSize,
    L: m.tokenCount,
    firstL: m.firstL,
    SN: m.patchNums.length,
    depth: m.var.depth,
    nh: m.var.numHeads,
    hd: m.var.embedDim / m.var.numHeads,
    D: m.var.embedDim,
    numClasses: m.var.numClasses,
  };
}

/** A graphSpec.json dim: a number; null for a dynamic axis; a fact or facts joined by + and - (e.g. "L-firstL"). */
export function resolveDim(d: number | string, f: Record<string, number>): number | null {
  if (typeof d === 'number') return d;
  if (d in GRAPH_SPEC.dynamic) return null;
  const terms = d.replace(/\s/g, '').match(/[+-]?[A-Za-z0-9]+/g) ?? [];
  if (terms.join('') !== d.replace(/\s/g, '')) throw new Error(`graphSpec.json: cannot read dim "${d}"`);
  return terms.reduce((sum, t) => {
    const sign = t.startsWith('-') ? -1 : 1;
    const name = t.replace(/^[+-]/, '');
    const v = /^\d+$/.test(name) ? Number(name) : f[name];
    if (v === undefined) throw new Error(`graphSpec.json: unknown fact "${name}" in "${d}"`);
    return sum + sign * v;
  }, 0);
}

/** The dims a graph of a graphSpec.json entry needs, from the model facts of the manifest. */
function expectedIO(m: BundleManifest, g: GraphSpecEntry): { inputs: Expect; outputs: Expect } {
  const f = manifestFacts(m);
  const side = (t: GraphSpecEntry['inputs']): Expect =>
    Object.fromEntries(Object.entries(t).map(([name, s]) => [name, s.dims.map((d) => resolveDim(d, f))]));
  return { inputs: side(g.inputs), outputs: side(g.outputs) };
}

function checkSpec(role: GraphRole, spec: GraphSpec, exp: { inputs: Expect; outputs: Expect }): string[] {
  const p: string[] = [];
  for (const kind of ['inputs', 'outputs'] as const) {
    for (const [name, dims] of Object.entries(exp[kind])) {
      const d = Object.hasOwn(spec[kind], name) ? spec[kind][name] : undefined;
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
        if (want !== null && typeof got === 'number' && got !== want)
          p.push(`graphs.${role}.${kind}.${name} dim ${i} is ${got}, the model needs ${want}`);
      });
    }
  }
  return p;
}

function isMatrix(x: unknown, rows: number, cols: number): boolean {
  return (
    Array.isArray(x) && x.length === rows && x.every((r) => Array.isArray(r) && r.length === cols && r.every((v) => typeof v === 'number'))
  );
}
