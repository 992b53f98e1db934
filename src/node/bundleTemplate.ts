/**
 * A new bundle from a template (any bundle with a weight map, or a compact template: templateStore.ts writeTemplate)
 * and a checkpoint of the same architecture, without Python: the graphs are the template's, weights.bin, codebook.bin
 * and trainingHits.bin are written tensor by tensor from the checkpoint by the map (the constant regions from the
 * template's own weight files, or its constants.bin), and varscope.json is the template's with the per-checkpoint fields filled in.
 * Everything goes into a temporary folder beside the target, renamed into place when whole.
 */
import { createHash, type Hash } from 'crypto';
import * as fs from 'fs';
import * as path from 'path';
import { VarScopeError } from '../shared/errors';
import { writeFileAtomicSync } from './atomicWrite';
import type { StateDict } from './checkpoint/types';
import { gatherView, roundThroughFloat16, toFloat16Bits, toFloat32, toIntegers, isFloatDtype } from './template/convert';
import {
  checkpointMismatch,
  constantRegions,
  CONSTANTS_FILE,
  readWeightMap,
  WEIGHT_MAP_FILE,
  type CheckpointRole,
  type Region,
  type WeightMap,
} from './template/weightMap';

const MANIFEST = 'varscope.json';
const COPY_CHUNK = 1 << 22;
// The exporter's defaults for a checkpoint with no options (python/varscope/bundle/bundle_spec.py build_manifest).
const DEFAULT_SAMPLING = { cfg: 4.0, topK: 900, topP: 0.96 };

/** One checkpoint file a bundle was made from (provenance.sources). */
export interface SourceFile {
  role: CheckpointRole;
  file: string;
  sha256: string;
  bytes: number;
}

/** The per-checkpoint manifest fields of the new bundle (as `varscope.export` takes them), and a cancel signal. */
export interface TemplateWriteOptions {
  id: string;
  name: string;
  description?: string;
  classes?: string[];
  sampling?: { cfg: number; topK: number; topP: number };
  training?: unknown;
  sources?: SourceFile[];
  signal?: AbortSignal;
}

/** A template's varscope.json: `template.constants` names a compact template's constants file, `template.facts` what its key hashes. */
type Manifest = Record<string, unknown> & { template?: { key?: unknown; map?: unknown; constants?: unknown; facts?: unknown } };

/** A bundle folder's varscope.json, parsed (not checked); a folder without one is a one-line ModelLoad error. */
export function readManifest<T = Manifest>(bundleDir: string): T {
  const file = path.join(bundleDir, MANIFEST);
  try {
    return JSON.parse(fs.readFileSync(file, 'utf8')) as T;
  } catch (e) {
    throw new VarScopeError('ModelLoad', `${bundleDir} is not a bundle: cannot read ${MANIFEST} (${(e as Error).message})`);
  }
}

/** The template key of a bundle folder (varscope.json's template.key, with its weight map beside it), or undefined. */
export function templateKeyOf(bundleDir: string): string | undefined {
  try {
    const key = readManifest(bundleDir).template?.key;
    return typeof key === 'string' && fs.existsSync(path.join(bundleDir, WEIGHT_MAP_FILE)) ? key : undefined;
  } catch {
    return undefined;
  }
}

function checkCancel(signal?: AbortSignal): void {
  if (signal?.aborted) throw new VarScopeError('Cancelled', 'cancelled');
}

/** Appends bytes to a file at increasing offsets, hashing them. */
class HashedWriter {
  readonly hash: Hash = createHash('sha256');
  at = 0;
  private constructor(private readonly fh: fs.promises.FileHandle) {}

  static async open(file: string): Promise<HashedWriter> {
    return new HashedWriter(await fs.promises.open(file, 'wx'));
  }

  async write(bytes: Uint8Array): Promise<void> {
    const at = this.at;
    this.at += bytes.byteLength;
    const written = (async () => {
      for (let off = 0; off < bytes.byteLength;) off += (await this.fh.write(bytes, off, bytes.byteLength - off, at + off)).bytesWritten;
    })();
    this.hash.update(bytes); // while the write runs on libuv's thread pool
    await written;
  }

  async zerosTo(offset: number): Promise<void> {
    if (offset > this.at) await this.write(Buffer.alloc(offset - this.at));
  }

  /** fsync, close and the file's {sha256, bytes}. */
  async finish(): Promise<{ sha256: string; bytes: number }> {
    await this.fh.sync();
    await this.fh.close();
    return { sha256: this.hash.digest('hex'), bytes: this.at };
  }

  async abandon(): Promise<void> {
    await this.fh.close().catch(() => undefined);
  }
}

/** The bytes a source region stores, from its checkpoint tensor (converted as the exporter converts). */
async function regionBytes(r: Region, sd: StateDict, file: string): Promise<Uint8Array> {
  const src = r.source!;
  const t = sd.get(src.key)!;
  const raw = await t.read();
  if (raw.byteLength !== t.byteLength)
    throw new VarScopeError('ModelLoad', `${src.role} checkpoint: key ${src.key} read ${raw.byteLength} of its ${t.byteLength} bytes`);
  const n = t.shape.reduce((a, b) => a * b, 1);
  let out: Uint8Array;
  if (r.dtype === 'float32' || r.dtype === 'float16') {
    if (t.dtype === 'float32' && r.dtype === 'float32' && !src.strides && !src.via) out = raw;
    else {
      let v = isFloatDtype(t.dtype) ? toFloat32(raw, t.dtype, n) : Float32Array.from(toIntegers(raw, t.dtype, n), Number);
      if (src.via === 'float16') v = roundThroughFloat16(v);
      if (src.strides) v = gatherView(v, r.shape, src.strides, src.start ?? 0);
      out = r.dtype === 'float16' ? new Uint8Array(toFloat16Bits(v).buffer) : new Uint8Array(v.buffer, v.byteOffset, v.byteLength);
    }
  } else if (r.dtype === 'int64') {
    let v = toIntegers(raw, t.dtype, n);
    if (src.strides) v = gatherView(v, r.shape, src.strides, src.start ?? 0);
    out = new Uint8Array(v.buffer);
  } else throw new VarScopeError('ModelLoad', `${file}: regions of ${r.dtype} from a checkpoint are not supported`);
  if (out.byteLength !== r.bytes)
    throw new VarScopeError(
      'ModelLoad',
      `${file} at ${r.offset}: ${src.role} key ${src.key} gives ${out.byteLength} bytes, the map expects ${r.bytes}`,
    );
  return out;
}

/** A constant region's place, as the key of the bytes readConstants gives. */
const constantKey = (file: string, r: Region) => `${file}@${r.offset}`;

/**
 * The bytes of every constant region of the template's map: from its constants.bin when it is a compact template (whole
 * only if it is the file its manifest records), else from its own weight files (a bundle is its own template).
 */
async function readConstants(templateDir: string, manifest: Manifest, map: WeightMap): Promise<Map<string, Buffer>> {
  const regions = constantRegions(map);
  const out = new Map<string, Buffer>();
  if (manifest.template?.constants !== undefined) {
    const file = path.join(templateDir, CONSTANTS_FILE);
    if (manifest.template.constants !== CONSTANTS_FILE)
      throw new VarScopeError(
        'ModelLoad',
        `${templateDir}: its constants are in ${String(manifest.template.constants)}, not ${CONSTANTS_FILE}`,
      );
    const bytes = await fs.promises.readFile(file).catch((e: Error) => {
      throw new VarScopeError('ModelLoad', `${file}: cannot read the template's constants (${e.message})`);
    });
    const recorded = (manifest.files as Record<string, { sha256?: string }> | undefined)?.[CONSTANTS_FILE]?.sha256;
    if (createHash('sha256').update(bytes).digest('hex') !== recorded)
      throw new VarScopeError('ModelLoad', `${file} is not the file its ${MANIFEST} records (sha256); take the template again`);
    for (const c of regions) out.set(constantKey(c.file, c.region), bytes.subarray(c.at, c.at + c.region.bytes));
    return out;
  }
  const open = new Map<string, fs.promises.FileHandle>();
  try {
    for (const { file, region: r } of regions) {
      if (!open.has(file)) open.set(file, await fs.promises.open(path.join(templateDir, file), 'r'));
      const buf = Buffer.alloc(r.bytes);
      const { bytesRead } = await open.get(file)!.read(buf, 0, r.bytes, r.offset);
      if (bytesRead !== r.bytes)
        throw new VarScopeError(
          'ModelLoad',
          `${path.join(templateDir, file)}: shorter than its weight map says (${r.offset + bytesRead} bytes)`,
        );
      out.set(constantKey(file, r), buf);
    }
    return out;
  } finally {
    await Promise.all([...open.values()].map((fh) => fh.close()));
  }
}

/** Write one per-checkpoint file of the map into `stage`, region by region (one tensor in memory at a time). */
async function writeMappedFile(
  name: string,
  map: WeightMap,
  constants: Map<string, Buffer>,
  sources: Record<CheckpointRole, StateDict>,
  stage: string,
  signal?: AbortSignal,
) {
  const spec = map.files[name];
  const out = await HashedWriter.open(path.join(stage, name));
  try {
    for (const r of spec.regions) {
      checkCancel(signal);
      await out.zerosTo(r.offset);
      await out.write(r.constant ? constants.get(constantKey(name, r))! : await regionBytes(r, sources[r.source!.role], name));
    }
    await out.zerosTo(spec.bytes);
    return await out.finish();
  } catch (e) {
    await out.abandon();
    throw e;
  }
}

/** Copy a file of the template into `stage`, hashing it. */
async function copyHashed(from: string, to: string, signal?: AbortSignal) {
  const out = await HashedWriter.open(to);
  const src = await fs.promises.open(from, 'r');
  try {
    const buf = Buffer.alloc(COPY_CHUNK);
    for (;;) {
      checkCancel(signal);
      const { bytesRead } = await src.read(buf, 0, COPY_CHUNK, out.at);
      if (!bytesRead) break;
      await out.write(buf.subarray(0, bytesRead));
    }
    return await out.finish();
  } catch (e) {
    await out.abandon();
    throw e;
  } finally {
    await src.close();
  }
}

/** Python's datetime.now(timezone.utc).isoformat(timespec='seconds'), as the exporter writes exportedAt. */
function exportedAt(now: Date): string {
  return now.toISOString().replace(/\.\d+Z$/, '+00:00');
}

/** The new bundle's manifest: the template's, with the fields the map names filled from `opts` and `files`. */
function newManifest(template: Manifest, opts: TemplateWriteOptions, files: Record<string, { sha256: string; bytes: number }>): Manifest {
  const m: Manifest = { ...template, id: opts.id, name: opts.name };
  m.template = { key: template.template?.key, map: template.template?.map }; // a bundle: no constants file of its own
  delete m.description;
  if (opts.description !== undefined) m.description = opts.description;
  const numClasses = (template.var as { numClasses: number }).numClasses;
  m.classes = opts.classes ?? Array.from({ length: numClasses }, (_, i) => `class ${i}`);
  m.sampling = opts.sampling ?? DEFAULT_SAMPLING;
  const provenance: Record<string, unknown> = {
    exporter: (template.provenance as { exporter?: unknown } | undefined)?.exporter,
    exportedAt: exportedAt(new Date()),
    sources: opts.sources ?? [],
    template: { from: template.id },
  };
  if (opts.training !== undefined) provenance.training = opts.training;
  m.provenance = provenance;
  m.files = Object.fromEntries(
    Object.keys(files)
      .sort()
      .map((k) => [k, files[k]]),
  );
  return m;
}

/** Move `stage` to `outDir`, replacing a bundle folder there (never another kind of folder). */
async function renameIntoPlace(stage: string, outDir: string): Promise<void> {
  let old: string | undefined;
  if (fs.existsSync(outDir)) {
    const entries = fs.readdirSync(outDir);
    if (entries.length && !entries.includes(MANIFEST))
      throw new VarScopeError('ModelLoad', `${outDir} exists and is not a bundle folder; refusing to replace it`);
    old = `${stage}.old`;
    await fs.promises.rename(outDir, old);
  }
  try {
    await fs.promises.rename(stage, outDir);
  } catch (e) {
    if (old) await fs.promises.rename(old, outDir);
    throw e;
  }
  if (old) await fs.promises.rm(old, { recursive: true, force: true });
}

/**
 * Write the bundle of `sources` (the canonical vae and var state_dicts) at `outDir` from the template bundle at
 * `templateDir`: checks every key, shape and dtype against the template's weight map first (one line naming the first
 * mismatch), then writes into a temporary folder beside `outDir` and renames it into place. On a failure or when
 * `opts.signal` aborts (VarScopeError 'Cancelled'), nothing is left behind and `outDir` is as it was.
 */
export async function writeBundleFromTemplate(
  templateDir: string,
  sources: Record<CheckpointRole, StateDict>,
  outDir: string,
  opts: TemplateWriteOptions,
): Promise<void> {
  const manifest = readManifest(templateDir);
  const map = readWeightMap(templateDir);
  if (manifest.template?.key !== map.key)
    throw new VarScopeError('ModelLoad', `${templateDir}: its ${MANIFEST} and ${WEIGHT_MAP_FILE} name different template keys`);
  const mismatch = checkpointMismatch(map, sources);
  if (mismatch) throw new VarScopeError('ModelLoad', `${mismatch}; template ${String(manifest.id)} (key ${map.key.slice(0, 12)})`);
  const recorded = (manifest.files ?? {}) as Record<string, { sha256?: string }>;
  const graphs = Object.values((manifest.graphs ?? {}) as Record<string, { file?: unknown }>).map((g) => String(g?.file));
  if (!graphs.length) throw new VarScopeError('ModelLoad', `${templateDir}: its ${MANIFEST} names no graphs`);
  if (graphs.some((f) => f !== path.basename(f)))
    throw new VarScopeError('ModelLoad', `${templateDir}: its graphs lie in another folder (a shared-VAE bundle is no template)`);
  checkCancel(opts.signal);
  const parent = path.dirname(path.resolve(outDir));
  fs.mkdirSync(parent, { recursive: true });
  const stage = await fs.promises.mkdtemp(path.join(parent, `.${path.basename(outDir)}.partial-`));
  try {
    const files: Record<string, { sha256: string; bytes: number }> = {};
    for (const name of [...graphs, WEIGHT_MAP_FILE]) {
      files[name] = await copyHashed(path.join(templateDir, name), path.join(stage, name), opts.signal);
      if (files[name].sha256 !== recorded[name]?.sha256)
        throw new VarScopeError(
          'ModelLoad',
          `${path.join(templateDir, name)} is not the file its ${MANIFEST} records (sha256); export the template again`,
        );
    }
    const constants = await readConstants(templateDir, manifest, map);
    for (const name of Object.keys(map.files)) files[name] = await writeMappedFile(name, map, constants, sources, stage, opts.signal);
    checkCancel(opts.signal);
    writeFileAtomicSync(path.join(stage, MANIFEST), JSON.stringify(newManifest(manifest, opts, files), null, 1));
    await fs.promises.chmod(stage, 0o755); // mkdtemp makes it private; a bundle is meant to be shared
    await renameIntoPlace(stage, outDir);
  } finally {
    await fs.promises.rm(stage, { recursive: true, force: true });
  }
}
