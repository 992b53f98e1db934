/**
 * `evaluate`: a checkpoint over a folder of images, one evaluation for both families (evaluateFolder dispatches on the
 * bundle's). An Infinity model's images are labelled with captions (captions.ts) and scored by their bits
 * (bitsMetrics.ts). A VAR model's labels come from an ImageFolder layout (one sub-folder per
 * class, as the official trainer reads ImageNet), from one class for every image, or none (the null class).
 * Sub-folders map to classes by the model's class names when every sub-folder is one (case and spaces
 * ignored), else by index when every sub-folder is a class index, else in sorted order as torchvision's
 * ImageFolder numbers them (the official trainer's labels).
 */
import * as fs from 'fs';
import * as path from 'path';
import type { EvaluateFolderRequest, TextCondition } from '../../shared/engineApi';
import type { ConsistencyWarning } from '../../shared/consistency';
import type {
  AnyDatasetEvaluation,
  BitsDatasetEvaluation,
  BitsImageStats,
  DatasetEvaluation,
  EvaluationProgress,
  FreeRunSpec,
  LabelSource,
} from '../../shared/evaluation';
import { FREE_RUN_MODES } from '../../shared/evaluation';
import { OFFICIAL_SAMPLING } from '../../shared/manifest';
import { VarScopeError } from '../../shared/errors';
import type { AnyBundle, ModelBundle } from '../bundle/bundle';
import { InfinityBundle } from '../bundle/infinityBundle';
import { decodeImage } from '../image/imageDecode';
import { evaluateBitsOf, sizedInput } from '../model/infinityModel';
import type { TextFeatures } from '../../node/textFeatures';
import { MAX_IMAGE_BYTES, readCapped } from '../../node/readCapped';
import { bitsEvaluationOf, bitsImageStats } from './bitsMetrics';
import { captionsOf, captionText } from './captions';
import { DatasetMetrics } from './datasetMetrics';
import { folderPass, listImages } from './folderPass';
import { freeRunImage } from './freeRunning';
import { bundleHash, listedPath, listingDigest, shardOf } from './shards';
import { trainingStep } from '../../node/trainingStep';

/** Hooks of an evaluation. */
export interface EvaluateHooks {
  maxPixels: number;
  isCancelled(): boolean;
  onProgress(p: Omit<EvaluationProgress, 'runId'>): void;
  /** An Infinity caption's T5 features (the engine's: a features file, or a prompt through the bundle's text encoder). */
  textFeatures(b: InfinityBundle, text: TextCondition): Promise<TextFeatures>;
  /** The execution provider running an Infinity bundle's graphs. */
  provider(): string;
}

/** Sub-folder -> class id, and how they were matched. */
export interface ClassMatch {
  map: Map<string, number>;
  match: 'names' | 'indices' | 'sorted';
}

/** Sub-folder -> class id for an ImageFolder layout (see the file comment). */
export function classMapOf(folder: string, classes: string[]): ClassMatch {
  let subs: string[];
  try {
    subs = fs
      .readdirSync(folder, { withFileTypes: true })
      .filter((e) => e.isDirectory())
      .map((e) => e.name)
      .sort();
  } catch (e) {
    throw new VarScopeError('BadRequest', `cannot read folder ${folder}: ${(e as NodeJS.ErrnoException).code ?? String(e)}`);
  }
  if (!subs.length)
    throw new VarScopeError('BadRequest', `${folder} has no sub-folders: labels from sub-folders need one folder per class`);
  const norm = (s: string) =>
    s
      .toLowerCase()
      .replace(/[\s_]+/g, ' ')
      .trim();
  const byName = new Map(classes.map((c, i) => [norm(c), i]));
  if (subs.every((s) => byName.has(norm(s)))) return { map: new Map(subs.map((s) => [s, byName.get(norm(s))!])), match: 'names' };
  if (subs.every((s) => /^\d+$/.test(s) && Number(s) < classes.length))
    return { map: new Map(subs.map((s) => [s, Number(s)])), match: 'indices' };
  if (subs.length > classes.length)
    throw new VarScopeError(
      'BadRequest',
      `${subs.length} sub-folders but the model has ${classes.length} classes (sub-folders must be class names, class indices, or at most one per class)`,
    );
  return { map: new Map(subs.map((s, i) => [s, i])), match: 'sorted' };
}

/**
 * Where a folder's labels and the model's classes disagree: sub-folders matched in sorted order that are fewer than the
 * model's classes (torchvision numbers them 0 … n-1, right only if the model was trained on exactly these classes), and
 * sub-folders named as the model's classes in a run without labels (every image then gets the null class).
 */
export function labelWarnings(folder: string, labels: LabelSource, classes: string[], mapped?: ClassMatch): ConsistencyWarning[] {
  const model = `${classes.length} classes`;
  if (labels.kind === 'subfolders' && mapped?.match === 'sorted' && mapped.map.size < classes.length) {
    const subs = [...mapped.map.keys()];
    const given = `${subs.length} class sub-folders`;
    return [
      {
        check: 'folderClasses',
        model,
        given,
        message: `the model has ${model}, the folder ${given} whose names are neither class names nor indices: matched in sorted order as torchvision's ImageFolder numbers them (${subs[0]} = class 0 … ${subs[subs.length - 1]} = class ${subs.length - 1}), right only if the model was trained on exactly these sub-folders`,
      },
    ];
  }
  if (labels.kind === 'none') {
    let named: ClassMatch | undefined;
    try {
      named = classMapOf(folder, classes);
    } catch {
      return []; // no sub-folders, or more than classes: not the model's classes
    }
    if (named.match !== 'names') return [];
    const given = `${named.map.size} sub-folders named as its classes`;
    return [
      {
        check: 'labelsUnused',
        model,
        given,
        message: `the model has ${model} and the folder ${given}, but no labels were asked for: every image is scored with the null class; label them from the sub-folders (--labels-from-subfolders) to score each with its class`,
      },
    ];
  }
  return [];
}

/** Seed of every sampled continuation (the Step-through view's default seed). */
export const FREE_RUN_SEED = 0;

/** What the request's free running runs with (undefined without it): the bundle's sampling settings, its modes checked. */
export function freeRunSpecOf(bundle: ModelBundle, req: EvaluateFolderRequest): FreeRunSpec | undefined {
  const modes = req.freeRunning?.modes;
  if (!modes) return undefined;
  const bad = modes.find((mo) => !FREE_RUN_MODES.includes(mo));
  if (bad !== undefined || !modes.length)
    throw new VarScopeError('BadRequest', `free-running modes must be some of ${FREE_RUN_MODES.join(', ')}, got ${JSON.stringify(modes)}`);
  const { cfg, topK, topP } = bundle.manifest.sampling ?? OFFICIAL_SAMPLING;
  return {
    modes: FREE_RUN_MODES.filter((mo) => modes.includes(mo)),
    sampling: { cfg, topK, topP, seed: FREE_RUN_SEED },
    classSource: req.labels.kind === 'subfolders' ? 'labels' : req.labels.kind === 'class' ? 'class' : 'unconditional',
  };
}

/** The folder of a request, resolved, and its shard checked. */
function checkedFolder(req: EvaluateFolderRequest): string {
  // Files by absolute path, whatever the folder given: the Dataset view opens them from any working directory, and a
  // merge finds each one's path in the folder (its shard).
  const folder = path.resolve(req.folder);
  if (!fs.existsSync(folder) || !fs.statSync(folder).isDirectory()) throw new VarScopeError('BadRequest', `${req.folder} is not a folder`);
  const shard = req.shard;
  if (
    shard &&
    !(Number.isInteger(shard.count) && shard.count >= 1 && Number.isInteger(shard.index) && shard.index >= 0 && shard.index < shard.count)
  )
    throw new VarScopeError('BadRequest', `shard ${shard.index}/${shard.count}: K/N needs 0 <= K < N`);
  return folder;
}

/** The listed images cut after `limit`, their listed paths (the shard hash's input), and the request's shard of them. */
function cutListing(folder: string, all: string[], req: EvaluateFolderRequest): { files: string[]; listed: string[] } {
  const cut = req.limit !== undefined ? all.slice(0, Math.max(0, req.limit)) : all;
  const listed = cut.map((f) => listedPath(folder, f));
  const shard = req.shard;
  return { files: shard ? cut.filter((_, i) => shardOf(listed[i], shard.count) === shard.index) : cut, listed };
}

/** Evaluate a bundle of either family on a folder (or its shard `req.shard`: shards.ts). */
export async function evaluateFolder(bundle: AnyBundle, req: EvaluateFolderRequest, hooks: EvaluateHooks): Promise<AnyDatasetEvaluation> {
  const folder = checkedFolder(req);
  if (bundle instanceof InfinityBundle) return evaluateBitsFolder(bundle, folder, req, hooks);
  if (req.labels.kind === 'captions')
    throw new VarScopeError('BadRequest', `${bundle.dir} is a VAR bundle: it is conditioned on classes, not captions`);
  return evaluateVarFolder(bundle, folder, req, hooks);
}

/** An Infinity bundle over a folder: every image's bits teacher-forced on its caption (bitsMetrics.ts). */
async function evaluateBitsFolder(
  bundle: InfinityBundle,
  folder: string,
  req: EvaluateFolderRequest,
  hooks: EvaluateHooks,
): Promise<BitsDatasetEvaluation> {
  const m = bundle.manifest;
  const t0 = Date.now();
  const captionOf = await captionsOf(req.labels);
  const { files, listed } = cutListing(folder, listImages(folder), req);
  const stats: BitsImageStats[] = [];
  const failed: DatasetEvaluation['failed'] = [];
  let cancelled = false;
  for (const file of files) {
    if (hooks.isCancelled()) {
      cancelled = true;
      break;
    }
    try {
      const caption = await captionOf(file);
      if (caption instanceof Error) throw caption;
      const text = await hooks.textFeatures(bundle, caption);
      const decoded = await decodeImage(await readCapped(file, MAX_IMAGE_BYTES, 'BadImage', 'image'), hooks.maxPixels, file);
      const { s, input } = await sizedInput(bundle, decoded);
      stats.push(bitsImageStats(file, captionText(caption), await evaluateBitsOf(bundle, s, input, text), m.bits));
    } catch (e) {
      failed.push({ file, message: e instanceof Error ? e.message : String(e) });
    }
    hooks.onProgress({
      done: stats.length + failed.length,
      total: files.length,
      failed: failed.length,
      elapsedMs: Date.now() - t0,
      finished: false,
    });
  }
  const elapsedMs = Date.now() - t0;
  hooks.onProgress({ done: stats.length + failed.length, total: files.length, failed: failed.length, elapsedMs, finished: true });
  const r = bitsEvaluationOf(stats, {
    model: { id: m.id, name: m.name, dir: bundle.dir, step: trainingStep(m, bundle.dir).step },
    folder,
    labels: req.labels,
    bits: m.bits,
    failed,
    cancelled,
    elapsedMs,
  });
  if (req.shard)
    r.shard = {
      ...req.shard,
      model: { id: m.id, hash: bundleHash(m.files), bits: m.bits },
      settings: { limit: req.limit ?? null, maxImagePixels: hooks.maxPixels, provider: hooks.provider() },
      listing: listingDigest(listed),
      stats,
    };
  return r;
}

/** A VAR bundle over a folder. */
async function evaluateVarFolder(
  bundle: ModelBundle,
  folder: string,
  req: EvaluateFolderRequest,
  hooks: EvaluateHooks,
): Promise<DatasetEvaluation> {
  const m = bundle.manifest;
  const t0 = Date.now();
  const shard = req.shard;
  const classes = Array.from({ length: m.var.numClasses }, (_, i) => m.classes?.[i] ?? `class ${i}`);
  let all = listImages(folder);
  let classOf: (file: string) => number = () => m.var.nullClass;
  let classMap: DatasetEvaluation['classMap'] = [];
  let classMatch: DatasetEvaluation['classMatch'] = null;
  let mapped: ClassMatch | undefined;
  if (req.labels.kind === 'class') {
    const c = req.labels.classId;
    if (!Number.isInteger(c) || c < 0 || (c >= m.var.numClasses && c !== m.var.nullClass))
      throw new VarScopeError('BadRequest', `class ${c} outside 0..${m.var.numClasses - 1} (or ${m.var.nullClass} for no class)`);
    classOf = () => c;
  } else if (req.labels.kind === 'subfolders') {
    mapped = classMapOf(folder, classes);
    const { map, match } = mapped;
    classMap = [...map.entries()].map(([sub, classId]) => ({ folder: sub, classId }));
    classMatch = match;
    // images directly in the folder have no label: left out
    all = all.filter((f) => path.relative(folder, f).includes(path.sep));
    classOf = (f) => map.get(path.relative(folder, f).split(path.sep)[0])!;
  }
  const { files, listed } = cutListing(folder, all, req);
  const freeRunning = freeRunSpecOf(bundle, req);
  const metrics = new DatasetMetrics({
    patchNums: m.patchNums,
    beginEnds: m.beginEnds,
    vocabSize: m.vae.vocabSize,
    imageSize: m.vae.imageSize,
    classes,
    trainingHits: bundle.trainingHits,
  });
  const { failed, cancelled } = await folderPass(
    bundle,
    files,
    {
      maxPixels: hooks.maxPixels,
      resizeRatio: req.resizeRatio,
      batch: req.batch ?? 8,
      score: true,
      classOf,
      isCancelled: hooks.isCancelled,
      onProgress: (done, nFailed) =>
        hooks.onProgress({ done, total: files.length, failed: nFailed, elapsedMs: Date.now() - t0, finished: false }),
    },
    async (x) =>
      metrics.add({
        file: x.file,
        classId: x.classId,
        tokens: x.tokens,
        logits: x.logits!,
        decoded: x.decoded!,
        input: x.input,
        freeRunning: freeRunning && (await freeRunImage(bundle, x, freeRunning)),
      }),
  );
  const elapsedMs = Date.now() - t0;
  hooks.onProgress({ done: metrics.images + failed.length, total: files.length, failed: failed.length, elapsedMs, finished: true });
  const r = metrics.result({
    model: { id: m.id, name: m.name, dir: bundle.dir, step: trainingStep(m, bundle.dir).step },
    folder,
    labels: req.labels,
    classMap,
    classMatch,
    warnings: labelWarnings(folder, req.labels, classes, mapped),
    failed,
    cancelled,
    elapsedMs,
    freeRunning,
  });
  if (shard)
    r.shard = {
      ...shard,
      model: { id: m.id, hash: bundleHash(m.files), ...metrics.facts },
      settings: {
        limit: req.limit ?? null,
        resizeRatio: req.resizeRatio ?? 1,
        maxImagePixels: hooks.maxPixels,
        provider: bundle.info().provider,
        ...(freeRunning ? { freeRunning } : {}),
      },
      listing: listingDigest(listed),
      stats: [...metrics.stats],
    };
  return r;
}
