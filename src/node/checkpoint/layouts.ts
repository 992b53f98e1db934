/**
 * Where the models are inside a checkpoint's object, as python/varscope/bundle/checkpoint.py finds them
 * (find_state_dicts, extract, looks_like, _strip_prefixes, canonical_vae_keys): a plain state_dict, the official
 * trainer's ar-ckpt-*.pth ({'epoch', 'iter', 'trainer': {'var_wo_ddp', 'vae_local', 'var_opt', ...}, 'args'}), or a
 * safetensors file's flat dict. The key names must stay equal to the Python side's: the templates map them.
 */
import { LazyTensor } from './tensorRead';
import type { CheckpointRole } from './types';

/** A state_dict found in the object: key -> tensor. */
export type LazyStateDict = Map<string, LazyTensor>;

/** Whether obj is a non-empty dict of tensors with string keys (Python's _is_state_dict). */
function isStateDict(obj: unknown): obj is LazyStateDict {
  if (!(obj instanceof Map) || obj.size === 0) return false;
  for (const [k, v] of obj) if (typeof k !== 'string' || !(v instanceof LazyTensor)) return false;
  return true;
}

/** The keys without a `module.` (DDP) or `_orig_mod.` (torch.compile) prefix that all of them share. */
function stripPrefixes(sd: LazyStateDict): LazyStateDict {
  for (const prefix of ['module.', '_orig_mod.']) {
    if ([...sd.keys()].every((k) => k.startsWith(prefix))) sd = new Map([...sd].map(([k, v]) => [k.slice(prefix.length), v]));
  }
  return sd;
}

/**
 * An Infinity model's role from the key names (python/varscope/infinity/load.py): its transformer ('var': pos_start
 * and cfg_uncond) or its BSQ VAE ('vae': encoder.conv_in.conv.weight), else undefined.
 */
export function infinityRole(keys: Iterable<string>): CheckpointRole | undefined {
  const all = new Set(keys);
  if (all.has('pos_start') && all.has('cfg_uncond')) return 'var';
  if (all.has('encoder.conv_in.conv.weight')) return 'vae';
  return undefined;
}

/** 'var', 'vae' or 'unknown', from the key names (an Infinity model's: 'unknown'). */
export function looksLike(keys: Iterable<string>): CheckpointRole | 'unknown' {
  const all = [...keys];
  if (infinityRole(all)) return 'unknown';
  if (all.includes('class_emb.weight') || all.some((k) => k.startsWith('blocks.'))) return 'var';
  if (all.includes('quantize.embedding.weight') || all.includes('encoder.conv_in.weight')) return 'vae';
  return 'unknown';
}

/** Every state_dict nested in the object (up to 4 dicts deep), with its path of keys ('<root>' for the object). */
export function findStateDicts(obj: unknown, depth = 0, path = ''): Array<[string, LazyStateDict]> {
  if (isStateDict(obj)) return [[path || '<root>', stripPrefixes(obj)]];
  const found: Array<[string, LazyStateDict]> = [];
  if (obj instanceof Map && depth < 4) {
    for (const [k, v] of obj) if (v instanceof Map) found.push(...findStateDicts(v, depth + 1, path ? `${path}.${String(k)}` : String(k)));
  }
  return found;
}

/** The state_dicts of a loaded checkpoint (Python's extract before it picks a role): a dict of tensors with at most two other entries counts as one. */
export function candidates(obj: unknown): Array<[string, LazyStateDict]> {
  if (obj instanceof Map) {
    const plain = new Map([...obj].filter(([, v]) => v instanceof LazyTensor));
    if (
      plain.size &&
      [...plain.keys()].every((k) => typeof k === 'string') &&
      looksLike(plain.keys()) !== 'unknown' &&
      plain.size >= obj.size - 2
    ) {
      obj = plain;
    }
  }
  return findStateDicts(obj);
}

/**
 * The state_dict of `role` among the candidates (Python's extract), or undefined when none is of that role; of an
 * Infinity model's roles with `family` 'infinity' (the trainer's gpt_fsdp, else gpt_wo_ddp, first, as infinity/load.py takes them).
 */
export function extract(
  found: Array<[string, LazyStateDict]>,
  role: CheckpointRole,
  family: 'var' | 'infinity' = 'var',
): LazyStateDict | undefined {
  const mine = found.filter(([, sd]) => (family === 'infinity' ? infinityRole(sd.keys()) : looksLike(sd.keys())) === role);
  if (mine.length > 1) {
    // EMA copies etc.: the canonical trainer names first
    for (const name of ['var_wo_ddp', 'vae_local', 'gpt_fsdp', 'gpt_wo_ddp', 'model', 'state_dict'])
      for (const [p, sd] of mine) if (p.split('.').at(-1) === name) return sd;
  }
  return mine[0]?.[1];
}

/** The shared and per-scale Phi layouts (quant_resi.qresi.*, quant_resi.<k>.*) under the names quant_resi.qresi_ls.<k>.*. */
export function canonicalVaeKeys<T>(sd: Map<string, T>): Map<string, T> {
  const out = new Map<string, T>();
  for (const [k, v] of sd) {
    const key = k
      .replace(/^quantize\.quant_resi\.qresi\./, 'quantize.quant_resi.qresi_ls.0.')
      .replace(/^quantize\.quant_resi\.(\d+)\./, 'quantize.quant_resi.qresi_ls.$1.');
    out.set(key, v);
  }
  return out;
}

/** A value of the pickle as JSON-able data (dicts as objects, sets and tuples as lists, tensors as {dtype, shape}). */
export function plainData(v: unknown, depth = 0): unknown {
  if (depth > 32) return '…';
  if (v === null || typeof v === 'boolean' || typeof v === 'number' || typeof v === 'string') return v;
  if (typeof v === 'bigint') return Number.isSafeInteger(Number(v)) ? Number(v) : v.toString();
  if (Buffer.isBuffer(v)) return v.toString('base64');
  if (v instanceof LazyTensor) return { dtype: v.dtype, shape: [...v.shape] };
  if (Array.isArray(v) || v instanceof Set) return [...v].map((x) => plainData(x, depth + 1));
  if (v instanceof Map) return Object.fromEntries([...v].map(([k, x]) => [String(k), plainData(x, depth + 1)]));
  return String(v);
}
