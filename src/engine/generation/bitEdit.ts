/**
 * What-if for an Infinity model (shared/bitEdit.ts): the original generation, then the edited one as a run of the same
 * settings and seed whose scales up to the edited one are forced (the original's bits, the chosen tokens changed) and
 * whose finer scales are sampled. A forced draw still happens, so the finer scales see the original's random stream.
 */
import { bitEditError, type BitEditRequest, type BitEditResult } from '../../shared/bitEdit';
import { VarScopeError } from '../../shared/errors';
import type { InfinityBundle } from '../bundle/infinityBundle';
import { BitGenerationRun, type CaptionFeatures } from './bitGenerator';

/** A whole run of `settings`, scales forced where `forced` says. */
async function generated(
  bundle: InfinityBundle,
  runId: string,
  settings: BitEditRequest['settings'],
  text: CaptionFeatures,
  forced?: Array<Uint8Array | undefined>,
): Promise<BitGenerationRun> {
  const run = await BitGenerationRun.open(bundle, runId, settings, text, { forced });
  await run.goTo(run.scaleCount - 1);
  return run;
}

/** Edit the generation of `req.settings` for the caption's features. */
export async function editBits(bundle: InfinityBundle, req: BitEditRequest, text: CaptionFeatures): Promise<BitEditResult> {
  const d = bundle.manifest.bits;
  const schedule = bundle.schedule(req.settings.hDivW ?? bundle.manifest.schedules[0].hDivW);
  const scales = schedule.scales.map(([, h, w]) => [h, w] as [number, number]);
  const problem = bitEditError({ ...req }, { scales, bits: d });
  if (problem) throw new VarScopeError('BadRequest', problem);
  const k = req.scaleIndex;
  const original = await generated(bundle, 'edit-original', req.settings, text);
  const source = original.bits;
  const changed = source[k].slice();
  if ('flip' in req.change) {
    for (const p of req.positions) for (const j of req.change.flip) changed[p * d + j] ^= 1;
  } else {
    // the same prefix, another seed: scale k's tokens are drawn in parallel from the prefix alone
    const other = await generated(bundle, 'edit-resample', { ...req.settings, seed: req.change.resampleSeed }, text, source.slice(0, k));
    const drawn = other.bits[k];
    for (const p of req.positions) changed.set(drawn.subarray(p * d, (p + 1) * d), p * d);
  }
  const edited = await generated(bundle, 'edit-edited', req.settings, text, [...source.slice(0, k), changed]);
  const disagreement = edited.bits.map((b, s) => {
    const o = source[s];
    let bits = 0;
    let tokens = 0;
    for (let p = 0; p < b.length / d; p++) {
      let differs = 0;
      for (let j = p * d; j < (p + 1) * d; j++) differs += b[j] ^ o[j];
      bits += differs;
      tokens += differs ? 1 : 0;
    }
    return { tokens: tokens / (b.length / d), bits: bits / b.length };
  });
  return {
    family: 'infinity',
    schedule: schedule.id,
    scales,
    bits: d,
    scaleIndex: k,
    positions: [...req.positions],
    change: req.change,
    original: { bits: source, image: await original.image() },
    edited: { bits: edited.bits, image: await edited.image() },
    disagreement,
  };
}
