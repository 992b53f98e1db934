/**
 * An Infinity bundle on disk (`"family": "infinity"`, written by `python -m varscope.infinity.export`): varscope.json,
 * per scale schedule (aspect ratio) five graphs sharing one weights.bin, and the unconditional caption features. The
 * VAR bundle's counterpart (bundle.ts); graphs open lazily, each checked against the manifest when it opens.
 */
import * as path from 'path';
import type { GraphSpec, InfinityGraphRole, InfinityManifest, InfinityOptionalGraphRole, InfinitySchedule } from '../../shared/manifest';
import { VarScopeError } from '../../shared/errors';
import { nearestSchedule } from '../../shared/modelFamily';
import type { Graph } from '../runtime/graph';
import { openGraph } from '../runtime/graphPool';
import type { OnnxRuntime } from '../runtime/onnxRuntime';
import { verifyBundleFiles } from './bundleVerify';
import { readCapped } from '../../node/readCapped';
import { fileHash } from './manifestCheck';
import { WeightHolders } from './weightHolders';

/** Largest tokenizer.json read (Flan-T5's is 2.4 MB). */
const MAX_TOKENIZER_BYTES = 64 * 2 ** 20;

/** The graphs that hold every transformer weight (the teacher-forced, generation and attention graphs), exclusive. */
const TRANSFORMER_ROLES: readonly string[] = ['infinityTransformer', 'infinityStep', 'infinityAttention'];

/**
 * A loaded Infinity bundle: its checked manifest and its graphs, opened on first use; a large bundle's transformer
 * graphs are held only while used, as a VAR bundle's (WeightHolders).
 */
export class InfinityBundle {
  private readonly sessions = new Map<string, Promise<Graph>>();
  private closed = false;
  private uncond: Promise<Float32Array> | undefined;
  private readonly holders: WeightHolders;

  private constructor(
    readonly dir: string,
    readonly manifest: InfinityManifest,
    private readonly runtime: OnnxRuntime,
  ) {
    this.holders = new WeightHolders(fileHash(manifest, 'weights.bin')?.bytes ?? 0, () => this.closed, manifest.id);
  }

  /** The graphs holding the transformer's weights now (`<schedule id>/<role>`). */
  get weightHolders(): string[] {
    if (this.holders.large) return this.holders.held();
    return [...this.sessions.keys()].filter((k) => TRANSFORMER_ROLES.includes(k.split('/')[1]));
  }

  /** Check an Infinity bundle's files against their recorded sha256 (cached as for VAR bundles). */
  static async open(
    dir: string,
    manifest: InfinityManifest,
    runtime: OnnxRuntime,
    opts: { cacheFile?: string; log?: (message: string) => void } = {},
  ): Promise<InfinityBundle> {
    const reexport = reexportAdvice(manifest, dir);
    const te = manifest.textEncoder;
    const needed = [
      ...manifest.schedules.flatMap((s) => Object.values(s.graphs).map((g) => g.file)),
      manifest.unconditionalText.file,
      ...(te ? [te.file, te.tokenizer] : []),
    ];
    const unhashed = needed.filter((f) => !fileHash(manifest, f));
    if (unhashed.length) throw new VarScopeError('ModelLoad', `${dir}: ${unhashed[0]} has no sha256 in "files"; ${reexport}`);
    const t0 = Date.now();
    const report = await verifyBundleFiles(dir, manifest, reexport, opts.cacheFile);
    opts.log?.(
      `${manifest.id}: ${report.hashed.length} files hashed, ${report.cached.length} verified earlier (cache), ${Date.now() - t0} ms`,
    );
    return new InfinityBundle(dir, manifest, runtime);
  }

  /**
   * The schedule for an aspect ratio h / w: the bundle's schedule of the nearest template ratio, as the official code
   * picks its template for an image. Refused in one line when no schedule is within 5 % (another ratio's export).
   */
  schedule(hDivW: number): InfinitySchedule {
    const all = this.manifest.schedules;
    const best = nearestSchedule(all, hDivW);
    if (Math.abs(Math.log(best.hDivW / hDivW)) > Math.log(1.05))
      throw new VarScopeError(
        'BadRequest',
        `${this.manifest.id} has no schedule near h:w ${hDivW.toFixed(3)} (it has ${all.map((s) => s.hDivW.toFixed(3)).join(', ')}); export it with --ratios`,
      );
    return best;
  }

  /**
   * The opened graph of a schedule (opened and checked against the manifest on first use); an optional graph the
   * bundle lacks is refused in one line saying how to re-export.
   */
  graph(s: InfinitySchedule, role: InfinityGraphRole | InfinityOptionalGraphRole): Promise<Graph> {
    const spec = s.graphs[role];
    if (!spec)
      return Promise.reject(
        new VarScopeError(
          'BadRequest',
          `${this.manifest.id} predates the ${role} graph (exported by an older VARScope); ${reexportAdvice(this.manifest, this.dir)}`,
        ),
      );
    return this.session(`${s.id}/${role}`, spec, role);
  }

  /** The caption encoder's graph (opened on first use); refused in one line when the bundle has none. */
  textEncoder(): Promise<Graph> {
    const te = this.manifest.textEncoder;
    if (!te)
      return Promise.reject(
        new VarScopeError(
          'BadRequest',
          `${this.dir} has no text encoder: add one with \`python -m varscope.infinity.text_encoder --t5 T5_DIR --bundle ${this.dir}\`, or give the caption's T5 features as a file (.npy or .safetensors, [N, ${this.manifest.text.featureWidth}])`,
        ),
      );
    return this.session('textEncoder', te, 'textEncoder');
  }

  /** The text encoder's tokenizer.json (the bundle must have a text encoder). */
  async tokenizerJson(): Promise<{ file: string; text: string }> {
    const te = this.manifest.textEncoder;
    if (!te) throw new VarScopeError('BadRequest', `${this.dir} has no text encoder`);
    const file = path.resolve(this.dir, te.tokenizer);
    return { file, text: (await readCapped(file, MAX_TOKENIZER_BYTES, 'ModelLoad', 'tokenizer.json')).toString('utf8') };
  }

  private session(key: string, spec: GraphSpec, role: string): Promise<Graph> {
    if (this.closed) return Promise.reject(new VarScopeError('Cancelled', `${this.manifest.id}: the model was closed`));
    let g = this.sessions.get(key);
    if (!g) {
      g =
        this.holders.large && TRANSFORMER_ROLES.includes(role)
          ? this.holders.open(key, () => this.openGraph(spec, role), true)
          : this.openGraph(spec, role);
      this.sessions.set(key, g);
      g.catch(() => this.sessions.delete(key)); // a failed open may be retried
    }
    return g;
  }

  /** The learnt CFG caption features [maxLength, featureWidth] (read once). */
  unconditionalText(): Promise<Float32Array> {
    this.uncond ??= (async () => {
      const { file, dims } = this.manifest.unconditionalText;
      const bytes = dims[0] * dims[1] * 4;
      const buf = await readCapped(path.resolve(this.dir, file), bytes, 'ModelLoad', 'unconditional text features');
      if (buf.length !== bytes)
        throw new VarScopeError('ModelLoad', `${path.resolve(this.dir, file)}: ${buf.length} bytes, float32[${dims}] needs ${bytes}`);
      const out = new Float32Array(dims[0] * dims[1]);
      new Uint8Array(out.buffer).set(buf);
      return out;
    })();
    return this.uncond;
  }

  /** Release every opened graph; later uses fail. */
  async dispose(): Promise<void> {
    this.closed = true;
    const all = [...this.sessions.values()];
    this.sessions.clear();
    for (const s of all) await s.then((g) => g.dispose()).catch(() => undefined);
  }

  private async openGraph(spec: GraphSpec, role: string): Promise<Graph> {
    const file = path.resolve(this.dir, spec.file);
    const g = await openGraph(this.runtime, file, role);
    const names = (io: Graph['inputs']) =>
      io
        .map((t) => t.name)
        .sort()
        .join(', ');
    const want = (o: Record<string, unknown>) => Object.keys(o).sort().join(', ');
    for (const [side, got, expected] of [
      ['inputs', names(g.inputs), want(spec.inputs)],
      ['outputs', names(g.outputs), want(spec.outputs)],
    ]) {
      if (got !== expected) {
        await g.dispose();
        throw new VarScopeError(
          'ModelLoad',
          `${file} (${role}) does not match varscope.json: its ${side} are ${got}, the manifest names ${expected}`,
        );
      }
    }
    return g;
  }
}

/** The re-export advice for an Infinity bundle, naming its source checkpoints. */
function reexportAdvice(m: InfinityManifest, dir: string): string {
  const src = (role: string) => m.provenance?.sources?.find((s) => s.role === role)?.file ?? role.toUpperCase() + '.pth';
  return `re-export it: \`PYTHONPATH=python python3 -m varscope.infinity.export --vae ${src('vae')} --infinity ${src('infinity')} --out ${dir}\``;
}
