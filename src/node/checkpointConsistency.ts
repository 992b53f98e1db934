/**
 * The consistency check on open: what a checkpoint says about itself against what it is being run with. The official
 * trainer's `args` and `trainer.config` against the bundle's manifest (patch numbers, depth, classes; its CFG, top-k
 * and top-p against the bundle's sampling defaults, a note), and the VQ-VAE an ar-ckpt stores (`vae_local`) against
 * the VQ-VAE file paired with it, by content. EMA against raw weights is not checked: no layout the reader knows (VAR's
 * trainer, plain state_dicts, safetensors) stores an EMA copy beside the raw weights.
 */
import { createHash } from 'crypto';
import { VarScopeError } from '../shared/errors';
import type { ConsistencyWarning } from '../shared/consistency';
import { OFFICIAL_SAMPLING, type BundleManifest } from '../shared/manifest';
import type { CheckpointContents, StateDict } from './checkpoint';

type Dict = Record<string, unknown>;
const isDict = (v: unknown): v is Dict => typeof v === 'object' && v !== null && !Array.isArray(v);
const num = (v: unknown) => (typeof v === 'number' && Number.isFinite(v) ? v : undefined);
const numbers = (v: unknown) => (Array.isArray(v) && v.length && v.every((x) => Number.isInteger(x)) ? (v as number[]) : undefined);

/** One warning: `what` in the checkpoint (`model`) against the bundle (`given`). */
function warning(check: ConsistencyWarning['check'], model: string, given: string, what: string): ConsistencyWarning {
  return { check, model, given, message: `${what}: the checkpoint says ${model}, the bundle has ${given}` };
}

/**
 * The patch numbers the trainer ran with and where it says so: `args.pn` ('1_2_3_4', or '1-2-3'; the trainer expands
 * a shorthand such as '256' before it saves, so a lone number is left to the others), else `trainer.config.patch_nums`,
 * else `args.patch_nums`.
 */
function trainerPatchNums(args: Dict, config: Dict): { patchNums: number[]; where: string } | undefined {
  if (typeof args.pn === 'string' && /^\d+([_-]\d+)+$/.test(args.pn))
    return { patchNums: args.pn.split(/[_-]/).map(Number), where: `args.pn '${args.pn}'` };
  const fromConfig = numbers(config.patch_nums);
  if (fromConfig) return { patchNums: fromConfig, where: `trainer.config.patch_nums (${fromConfig.join(', ')})` };
  const fromArgs = numbers(args.patch_nums);
  return fromArgs && { patchNums: fromArgs, where: `args.patch_nums (${fromArgs.join(', ')})` };
}

/** The trainer's `args` and `trainer.config` against the bundle's manifest; none when the checkpoint has neither. */
export function trainerWarnings(meta: CheckpointContents['meta'], manifest: BundleManifest): ConsistencyWarning[] {
  const args = isDict(meta.args) ? meta.args : {};
  const config = isDict(meta.trainerConfig) ? meta.trainerConfig : {};
  const out: ConsistencyWarning[] = [];
  const pn = trainerPatchNums(args, config);
  const bundlePn = manifest.patchNums.join(', ');
  if (pn && pn.patchNums.join(', ') !== bundlePn)
    out.push(warning('patchNums', pn.where, `patchNums (${bundlePn})`, 'patch numbers differ'));
  const depth = num(args.depth);
  if (depth !== undefined && depth !== manifest.var.depth)
    out.push(warning('depth', `args.depth ${depth}`, `depth ${manifest.var.depth}`, 'depth differs'));
  const classes = num(args.num_classes);
  if (classes !== undefined && classes !== manifest.var.numClasses)
    out.push(warning('numClasses', `args.num_classes ${classes}`, `${manifest.var.numClasses} classes`, 'number of classes differs'));
  const sampling = manifest.sampling ?? OFFICIAL_SAMPLING;
  const run = { cfg: num(args.cfg), topK: num(args.top_k), topP: num(args.top_p) };
  const names = { cfg: 'cfg', topK: 'top_k', topP: 'top_p' } as const;
  const differing = (['cfg', 'topK', 'topP'] as const).filter((k) => run[k] !== undefined && run[k] !== sampling[k]);
  if (differing.length)
    out.push({
      check: 'samplingArgs',
      model: differing.map((k) => `${names[k]} ${run[k]}`).join(', '),
      given: differing.map((k) => `${k} ${sampling[k]}`).join(', '),
      message:
        `note: the run was configured with ${differing.map((k) => `${names[k]} ${run[k]}`).join(', ')}; ` +
        `the bundle samples with ${differing.map((k) => `${k} ${sampling[k]}`).join(', ')} by default`,
    });
  return out;
}

/** The sha256 of each tensor's bytes (dtype and shape in front), read one tensor at a time. */
async function tensorHash(sd: StateDict, key: string): Promise<string> {
  const t = sd.get(key)!;
  return createHash('sha256')
    .update(`${t.dtype} [${t.shape.join(',')}]\n`)
    .update(await t.read())
    .digest('hex');
}

/**
 * The VQ-VAE stored in `stored.file` (an ar-ckpt's `vae_local`) against the one in `paired.file`, which the bundle is
 * made from, compared key by key by content; one warning naming the first differing key and how many differ, or none.
 */
export async function vaePairWarnings(
  stored: { file: string; sd: StateDict },
  paired: { file: string; sd: StateDict },
  signal?: AbortSignal,
): Promise<ConsistencyWarning[]> {
  const keys = [...new Set([...stored.sd.keys(), ...paired.sd.keys()])];
  const differing: string[] = [];
  for (const key of keys) {
    if (signal?.aborted) throw new VarScopeError('Cancelled', 'cancelled');
    if (!stored.sd.has(key) || !paired.sd.has(key) || (await tensorHash(stored.sd, key)) !== (await tensorHash(paired.sd, key)))
      differing.push(key);
  }
  if (!differing.length) return [];
  const first = differing[0];
  const absent = !stored.sd.has(first) ? ` (not in ${stored.file})` : !paired.sd.has(first) ? ` (not in ${paired.file})` : '';
  return [
    {
      check: 'vaePair',
      model: `the VQ-VAE stored in ${stored.file}`,
      given: `the VQ-VAE of ${paired.file}`,
      message:
        `the VQ-VAE stored in ${stored.file} differs from ${paired.file}, which the bundle uses: ` +
        `${differing.length} of ${keys.length} tensors differ, the first ${first}${absent}`,
    },
  ];
}
