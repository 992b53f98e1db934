/**
 * Free running from a prefix of an image's own tokens: for each prefix (the image's tokens at scales 1 … kept), the
 * model generates the finer scales with the What-if view's machinery (editForcing: every position of scale `kept`
 * resampled, nothing finer kept), seeded at the bundle's sampling settings or greedy (top-k 1: the most probable code),
 * and each regenerated scale is compared with the image's own: agreement of the tokens, the PSNR of the decoded f̂,
 * and the NLL of the model's own tokens. K − 1 generations per image and mode; the decodes of one image go in batches.
 */
import type { FreeRunImageStats, FreeRunMode, FreeRunPrefixStats, FreeRunSpec } from '../../shared/evaluation';
import type { BundleManifest } from '../../shared/manifest';
import type { GenerationSettings } from '../../shared/results';
import type { ModelBundle } from '../bundle/bundle';
import { GenerationRun } from '../generation/generator';
import { psnr } from '../image/imageQuality';
import { editForcing } from '../model/editForcing';
import { decodeLatents } from '../model/tokenizer';

/** Latents per decoder run. */
const DECODE_BATCH = 8;

/** The generation settings of a mode: the spec's sampling for `sampled`, top-k 1 (argmax of the same CFG logits) for `greedy`. */
export function modeSettings(spec: FreeRunSpec, mode: FreeRunMode, classId: number): GenerationSettings {
  const { cfg, topK, topP, seed } = spec.sampling;
  return mode === 'greedy' ? { classId, seed, cfg, topK: 1, topP: 0 } : { classId, seed, cfg, topK, topP };
}

/**
 * Per scale, the tokens a continuation from `kept` scales forces: the image's own at scales < kept, none after (the
 * What-if edit that resamples every position of scale `kept` and keeps nothing finer).
 */
export function prefixForcing(m: BundleManifest, source: Int32Array[], kept: number): Int32Array[] {
  const pn = m.patchNums[kept];
  const last = m.patchNums[m.patchNums.length - 1];
  return editForcing(m, source, {
    scaleIndex: kept,
    positions: Array.from({ length: pn * pn }, (_, i) => i),
    tokens: 'resample',
    keepMask: new Uint8Array(last * last),
  });
}

/** One image's continuations from every prefix, in every mode of the spec. */
export async function freeRunImage(
  bundle: ModelBundle,
  img: { file: string; classId: number; tokens: Int32Array; input: Float32Array },
  spec: FreeRunSpec,
): Promise<FreeRunImageStats> {
  const m = bundle.manifest;
  const { Cvae: C, latentSize: h, imageSize: S } = m.vae;
  const SN = m.patchNums.length;
  const source = m.beginEnds.map(([b, e]) => img.tokens.subarray(b, e));
  const out: FreeRunImageStats = {};
  for (const mode of spec.modes) {
    const prefixes: FreeRunPrefixStats[] = [];
    const fHats: Float32Array[] = [];
    for (let kept = 1; kept < SN; kept++) {
      const run = new GenerationRun(bundle, `free-run-${mode}-${kept}`, modeSettings(spec, mode, img.classId), {
        forced: prefixForcing(m, source, kept),
      });
      await run.goTo(SN - 1);
      const p: FreeRunPrefixStats = { hits: [], nll: [], psnr: [] };
      for (let j = kept; j < SN; j++) {
        const step = run.stepAt(j);
        let hits = 0;
        let nll = 0;
        for (let i = 0; i < step.tokens.length; i++) {
          if (step.tokens[i] === source[j][i]) hits++;
          nll -= Math.log(step.sampledProb[i]);
        }
        p.hits.push(hits);
        p.nll.push(nll);
        fHats.push(run.fHatAt(j));
      }
      prefixes.push(p);
    }
    // every regenerated scale of every prefix decoded together: [n, C, h, w] -> [n, 3, S, S]
    const lat = new Float32Array(fHats.length * C * h * h);
    fHats.forEach((f, i) => lat.set(f, i * C * h * h));
    const decoded = await decodeLatents(bundle, lat, fHats.length, DECODE_BATCH);
    let i = 0;
    for (const p of prefixes) for (let j = 0; j < p.hits.length; j++) p.psnr.push(psnr(decoded, i++ * 3 * S * S, img.input, 0, S));
    out[mode] = prefixes;
  }
  return out;
}
