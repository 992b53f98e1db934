/**
 * An evaluation split over machines. `varscope evaluate --shard K/N` evaluates the images of shard K and writes, in its
 * result's `shard`, every image's statistics; `mergeParts` turns the N parts into the result of one run over the whole
 * folder, equal to it number for number (both sum the same per-image statistics in the folder's listing order:
 * datasetMetrics.ts evaluationOf).
 *
 * An image's shard is the first 4 bytes of the sha256 of its path relative to the folder ('/'-separated, UTF-8), read
 * as a big-endian unsigned integer, modulo N: it depends on that path and N alone, not on the listing order, the
 * machine, or which other images the folder holds.
 */
import { createHash } from 'crypto';
import * as path from 'path';
import type {
  AnyDatasetEvaluation,
  BitsDatasetEvaluation,
  BitsScaleStats,
  BitsShardPart,
  DatasetEvaluation,
  FreeRunSpec,
  LabelSource,
  ShardPart,
} from '../../shared/evaluation';
import { VarScopeError } from '../../shared/errors';
import type { FileHash } from '../../shared/manifest';
import { bitsEvaluationOf } from './bitsMetrics';
import { evaluationOf } from './datasetMetrics';

/** The shard (0 … count − 1) of an image at `relativePath` ('/'-separated) under the folder. */
export function shardOf(relativePath: string, count: number): number {
  return createHash('sha256').update(relativePath, 'utf8').digest().readUInt32BE(0) % count;
}

/** A file's path relative to the folder, '/'-separated on every platform (the shard hash's input). */
export function listedPath(folder: string, file: string): string {
  return path.relative(folder, file).split(path.sep).join('/');
}

/** The listing a part was cut from: how many images and a sha256 of their paths (one per line, in listing order). */
export function listingDigest(paths: readonly string[]): ShardPart['listing'] {
  return { images: paths.length, sha256: createHash('sha256').update(paths.join('\n'), 'utf8').digest('hex') };
}

/** A bundle's identity by content: a sha256 over the sha256 of every file its manifest lists, in name order. */
export function bundleHash(files: Record<string, FileHash>): string {
  const lines = Object.keys(files)
    .sort()
    .map((f) => `${f} ${files[f].sha256}\n`);
  return createHash('sha256').update(lines.join(''), 'utf8').digest('hex');
}

/** A part and the name it is known by (its file), for messages. */
export interface NamedPart {
  name: string;
  evaluation: AnyDatasetEvaluation;
}

/** The fields of a part's `shard` that every family has. */
type AnyShard = ShardPart | BitsShardPart;
type Part<S extends AnyShard, E extends AnyDatasetEvaluation> = { name: string; evaluation: E; shard: S };

/** How the images got their class, in words. */
function labelsText(l: LabelSource): string {
  if (l.kind === 'captions') return l.jsonl === undefined ? 'captions beside the images' : `captions from ${l.jsonl}`;
  return l.kind === 'class' ? `class ${l.classId}` : l.kind === 'subfolders' ? 'labels from sub-folders' : 'no class';
}

/** What must be the same in every part of either family: its name and its value as shown in a refusal. */
const SAME_ANY: ReadonlyArray<[string, (p: Part<AnyShard, AnyDatasetEvaluation>) => string]> = [
  ['model', (p) => `${p.shard.model.id} (bundle ${p.shard.model.hash.slice(0, 12)})`],
  ['folder', (p) => p.evaluation.folder],
  ['labels', (p) => labelsText(p.evaluation.labels)],
  ['--limit', (p) => (p.shard.settings.limit === null ? 'none' : String(p.shard.settings.limit))],
  ['--max-pixels', (p) => String(p.shard.settings.maxImagePixels)],
  ['provider', (p) => p.shard.settings.provider],
  ['shard count', (p) => `N = ${p.shard.count}`],
  ['listed images', (p) => `${p.shard.listing.images} images, paths sha256 ${p.shard.listing.sha256.slice(0, 12)}`],
];

/** What must also be the same in every part of a VAR evaluation. */
const SAME_VAR: ReadonlyArray<[string, (p: Part<ShardPart, DatasetEvaluation>) => string]> = [
  ['class map', (p) => p.evaluation.classMap.map((c) => `${c.folder}=${c.classId}`).join(', ') || 'none'],
  ['--resize-ratio', (p) => String(p.shard.settings.resizeRatio)],
  ['--free-running', (p) => freeRunText(p.shard.settings.freeRunning)],
];

/** A part's free-running settings, in words. */
function freeRunText(f: FreeRunSpec | undefined): string {
  if (!f) return 'none';
  const { cfg, topK, topP, seed } = f.sampling;
  return `${f.modes.join(',')} (cfg ${cfg}, top-k ${topK}, top-p ${topP}, seed ${seed}, ${f.classSource})`;
}

const shardName = (s: { index: number; count: number }) => `${s.index}/${s.count}`;
const int = (v: unknown) => Number.isInteger(v);
const str = (v: unknown) => typeof v === 'string';

/** What is wrong with the fields of a part's `shard` that every family has, or undefined. */
function anyShardProblem(x: AnyShard): string | undefined {
  const m = x.model as Partial<AnyShard['model']> | undefined;
  const st = x.settings as Partial<AnyShard['settings']> | undefined;
  if (!int(x.index) || !int(x.count) || x.count < 1 || x.index < 0 || x.index >= x.count) return 'index and count (0 <= K < N)';
  if (!m || !str(m.id) || !str(m.hash)) return 'model';
  if (!st || (st.limit !== null && !int(st.limit)) || !int(st.maxImagePixels) || !str(st.provider)) return 'settings';
  if (!x.listing || !int(x.listing.images) || !str(x.listing.sha256)) return 'listing';
  if (!Array.isArray(x.stats)) return 'stats';
  return undefined;
}

/** What is wrong with a VAR part's `shard`, or undefined: the fields the merge reads, by type (a hand-edited file, say). */
function shardProblem(x: ShardPart): string | undefined {
  const m = x.model;
  const st = x.settings;
  if (!Array.isArray(m.patchNums) || !int(m.vocabSize) || !Array.isArray(m.classes)) return 'model';
  if (typeof st.resizeRatio !== 'number') return 'settings';
  const L = m.patchNums.reduce((a: number, pn: number) => a + pn * pn, 0);
  const bad = x.stats.find(
    (r) =>
      !r ||
      !str(r.file) ||
      !Array.isArray(r.tokens) ||
      r.tokens.length !== L ||
      r.scales?.length !== m.patchNums!.length ||
      (st.freeRunning?.modes ?? []).some((mode) => r.freeRunning?.[mode]?.length !== m.patchNums!.length - 1),
  );
  return bad !== undefined ? (bad ? `stats of ${bad.file}` : 'stats') : undefined;
}

/** What is wrong with an Infinity part's `shard`, or undefined. */
function bitsShardProblem(x: BitsShardPart): string | undefined {
  if (!int(x.model.bits)) return 'model';
  const counts: Array<keyof BitsScaleStats> = [
    'h',
    'w',
    'tokens',
    'bitsRight',
    'tokensRight',
    'majorityBitsRight',
    'majorityTokensRight',
    'copyBitsRight',
    'copyTokensRight',
  ];
  const bad = x.stats.find(
    (r) =>
      !r ||
      !str(r.file) ||
      !str(r.schedule) ||
      !str(r.caption) ||
      !Array.isArray(r.scales) ||
      r.scales.some((sc) => !sc || counts.some((c) => !int(sc[c]))),
  );
  return bad !== undefined ? (bad ? `stats of ${bad.file}` : 'stats') : undefined;
}

/**
 * The parts in shard order, checked: each a part of one split run (shard 0 … N − 1 of N, each once), complete, of the
 * same model, folder and settings (`same`), holding its shard's images only and together the whole listing.
 */
function checkedParts<S extends AnyShard, E extends AnyDatasetEvaluation>(
  given: ReadonlyArray<{ name: string; evaluation: E }>,
  problem: (x: S) => string | undefined,
  same: ReadonlyArray<[string, (p: Part<S, E>) => string]>,
): Array<Part<S, E>> {
  const refuse = (message: string) => new VarScopeError('BadRequest', message);
  const parts: Array<Part<S, E>> = given.map((p) => {
    const shard = p.evaluation.shard as S | undefined;
    if (!shard)
      throw refuse(`${p.name} is not a part of a split evaluation (it has no "shard": parts are written by varscope evaluate --shard K/N)`);
    const why = anyShardProblem(shard) ?? problem(shard);
    if (why) throw refuse(`${p.name} has a damaged "shard" (its ${why}): write it again with varscope evaluate --shard K/N`);
    return { ...p, shard };
  });
  if (!parts.length) throw refuse('no parts to merge');
  for (const p of parts)
    if (p.evaluation.cancelled) throw refuse(`${p.name} (shard ${shardName(p.shard)}) was cancelled before its end: run that shard again`);
  const first = parts[0];
  for (const [what, value] of [...(SAME_ANY as typeof same), ...same])
    for (const p of parts.slice(1)) {
      const [a, b] = [value(first), value(p)];
      if (a !== b) throw refuse(`${first.name} and ${p.name} differ in the ${what}: ${a} vs ${b}`);
    }
  const N = first.shard.count;
  const byIndex = new Map<number, Part<S, E>>();
  for (const p of parts) {
    const twin = byIndex.get(p.shard.index);
    if (twin) throw refuse(`shard ${shardName(p.shard)} is given twice: ${twin.name} and ${p.name}`);
    byIndex.set(p.shard.index, p);
  }
  const missing = Array.from({ length: N }, (_, k) => k).filter((k) => !byIndex.has(k));
  if (missing.length)
    throw refuse(
      `${missing.length === 1 ? 'shard' : 'shards'} ${missing.map((k) => shardName({ index: k, count: N })).join(', ')} ${missing.length === 1 ? 'is' : 'are'} missing (${parts.length} of ${N} parts given)`,
    );
  const ordered = [...byIndex.keys()].sort((a, b) => a - b).map((k) => byIndex.get(k)!);
  const folder = first.evaluation.folder;
  for (const p of ordered)
    for (const file of [...p.shard.stats.map((s) => s.file), ...p.evaluation.failed.map((f) => f.file)]) {
      const k = shardOf(listedPath(folder, file), N);
      if (k !== p.shard.index)
        throw refuse(`${p.name} (shard ${shardName(p.shard)}) holds ${file}, an image of shard ${shardName({ index: k, count: N })}`);
    }
  const held = ordered.reduce((a, p) => a + p.shard.stats.length + p.evaluation.failed.length, 0);
  if (held !== first.shard.listing.images)
    throw refuse(`the parts hold ${held} images but the folder listed ${first.shard.listing.images}`);
  return ordered;
}

/**
 * The result of one run over the whole folder from the parts of a split run (shard 0 … N − 1 of N, each once), of either
 * family. BadRequest, naming the difference, for parts of different families, models, folders or settings, a missing
 * shard, a shard given twice, a cancelled or damaged part, or a part whose images are not its shard's.
 */
export function mergeParts(given: readonly NamedPart[]): AnyDatasetEvaluation {
  const familyOf = (p: NamedPart) => p.evaluation.family ?? 'var';
  const other = given.find((p) => familyOf(p) !== familyOf(given[0]));
  if (other)
    throw new VarScopeError(
      'BadRequest',
      `${given[0].name} and ${other.name} differ in the model family: ${familyOf(given[0])} vs ${familyOf(other)}`,
    );
  const common = (ordered: Array<Part<AnyShard, AnyDatasetEvaluation>>) => ({
    model: ordered[0].evaluation.model,
    folder: ordered[0].evaluation.folder,
    labels: ordered[0].evaluation.labels,
    failed: ordered.flatMap((p) => p.evaluation.failed),
    cancelled: false,
    elapsedMs: ordered.reduce((a, p) => a + p.evaluation.elapsedMs, 0),
  });
  if (given.length && familyOf(given[0]) === 'infinity') {
    const ordered = checkedParts<BitsShardPart, BitsDatasetEvaluation>(
      given as Array<{ name: string; evaluation: BitsDatasetEvaluation }>,
      bitsShardProblem,
      [],
    );
    return bitsEvaluationOf(
      ordered.flatMap((p) => p.shard.stats),
      { ...common(ordered), bits: ordered[0].shard.model.bits },
    );
  }
  const ordered = checkedParts<ShardPart, DatasetEvaluation>(
    given as Array<{ name: string; evaluation: DatasetEvaluation }>,
    shardProblem,
    SAME_VAR,
  );
  const first = ordered[0];
  const { classMap, classMatch, warnings } = first.evaluation;
  const { id: _id, hash: _hash, ...facts } = first.shard.model;
  return evaluationOf(
    facts,
    ordered.flatMap((p) => p.shard.stats),
    { ...common(ordered), classMap, classMatch, warnings, freeRunning: first.shard.settings.freeRunning },
  );
}
