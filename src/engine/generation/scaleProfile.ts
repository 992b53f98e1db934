/**
 * Where the time goes, per scale and per graph: one generation (KV-cached steps, CFG, the bundle's sampling, the final
 * decode) and one teacher-forced pass, each timed `repeats` times after a warm-up, beside the FLOPs of every scale
 * (analysis/flops.ts), the KV cache's bytes and the machine's measured matrix-product rate.
 */
import type { GenerationScaleProfile, MatmulRate, ScaleProfile } from '../../shared/results';
import { OFFICIAL_SAMPLING, type GraphRole } from '../../shared/manifest';
import { VarScopeError } from '../../shared/errors';
import { MAX_PROFILE_REPEATS } from '../../shared/scaleProfile';
import type { ModelBundle } from '../bundle/bundle';
import { stepFlops, teacherForcedFlops } from '../analysis/flops';
import { teacherForcedLogits } from '../model/teacherForcing';
import { tokenize } from '../model/tokenizer';
import { GenerationRun } from './generator';

/** What a profile runs. */
export interface ProfileOptions {
  classId: number;
  /**
   * Timed runs of each pass (after one warm-up); per part the best is kept, as the machine's rate is its best run: on
   * a shared machine the best runs are the ones other processes left alone.
   */
  repeats: number;
  rate: MatmulRate;
  /** The teacher-forced pass's image (preprocessed); without one it runs on the generated sample's own tokens. */
  image?: { name: string; tensor: Float32Array };
}

/** Times per part (graph role, or `host`) of one timed section. */
type Parts = Record<string, number>;

const best = (v: number[]): number => Math.min(...v);
const sum = (v: number[]): number => v.reduce((s, x) => s + x, 0);

/** The best of each part over the repeats (a part missing from a repeat counts 0 there). */
function bestParts(runs: Parts[]): Parts {
  const names = [...new Set(runs.flatMap((r) => Object.keys(r)))];
  return Object.fromEntries(names.map((n) => [n, best(runs.map((r) => r[n] ?? 0))]));
}

/** Profile a bundle: see the file comment. */
export async function profileScales(b: ModelBundle, o: ProfileOptions): Promise<ScaleProfile> {
  if (!Number.isInteger(o.repeats) || o.repeats < 1 || o.repeats > MAX_PROFILE_REPEATS)
    throw new VarScopeError('BadRequest', `repeats must be an integer in 1..${MAX_PROFILE_REPEATS}, got ${o.repeats}`);
  const m = b.manifest;
  const SN = m.patchNums.length;
  const settings = { classId: o.classId, seed: 0, ...(m.sampling ?? OFFICIAL_SAMPLING) };
  const batch = settings.cfg > 0 ? 2 : 1;
  let section: Parts = {};
  const listening = b.onGraphRun;
  b.onGraphRun = (role: GraphRole, ms: number) => {
    section[role] = (section[role] ?? 0) + ms;
    listening?.(role, ms);
  };
  /** Run `f`, its graphs' times gathered and the rest of its wall time as `host`. */
  const timed = async (f: () => Promise<unknown>): Promise<{ parts: Parts; wall: number }> => {
    section = {};
    const t0 = performance.now();
    await f();
    const wall = performance.now() - t0;
    const parts = section;
    parts.host = Math.max(0, wall - sum(Object.values(parts)));
    return { parts, wall };
  };
  try {
    // Generation: the warm-up run first (r = -1), then the timed ones.
    const scaleRuns: Parts[][] = m.patchNums.map(() => []);
    const decodeRuns: number[] = [];
    const walls: number[] = [];
    const cached: number[] = [];
    let last: GenerationRun | undefined;
    for (let r = -1; r < o.repeats; r++) {
      const run = new GenerationRun(b, `profile-${r}`, settings);
      const t0 = performance.now();
      for (let k = 0; k < SN; k++) {
        const { parts } = await timed(() => run.goTo(k));
        if (r >= 0) scaleRuns[k].push(parts);
        cached[k] = run.cachedPositions;
      }
      const { wall: decode } = await timed(() => run.imageTensor());
      if (r >= 0) {
        decodeRuns.push(decode);
        walls.push(performance.now() - t0);
      }
      last = run;
    }
    const { depth, embedDim: D } = m.var;
    const scales: GenerationScaleProfile[] = m.patchNums.map((pn, k) => {
      const ms = bestParts(scaleRuns[k]);
      const [begin, end] = m.beginEnds[k];
      return {
        scaleIndex: k,
        pn,
        tokens: end - begin,
        cachedPositions: begin,
        ms,
        totalMs: sum(Object.values(ms)),
        flops: stepFlops(m, k, batch),
        kvBytes: cached[k] * 2 * depth * batch * D * 4, // keys and values, float32
      };
    });
    const decodeMs = best(decodeRuns);
    const scalesMs = sum(scales.map((s) => s.totalMs));
    const genFlops = sum(scales.map((s) => s.flops.total));
    const lastTwo = scales.slice(-2);

    // Teacher-forced: on the image's tokens, or on the generated sample's.
    const sample = last!.teacherForcingInput();
    const tfRuns: Parts[] = [];
    const tfWalls: number[] = [];
    for (let r = -1; r < o.repeats; r++) {
      const { parts, wall } = await timed(async () => {
        const varInput = o.image ? (await tokenize(b, o.image.tensor)).varInput : sample;
        await teacherForcedLogits(b, varInput, o.classId);
      });
      if (r >= 0) {
        tfRuns.push(parts);
        tfWalls.push(wall);
      }
    }
    const tfParts = bestParts(tfRuns);
    const tf = teacherForcedFlops(m);
    const graphs = Object.entries(tfParts).map(([role, ms]) => ({ role, ms }));
    return {
      model: m.id,
      provider: (await b.graph('transformerStep')).provider,
      classId: o.classId,
      repeats: o.repeats,
      rate: o.rate,
      generation: {
        settings,
        batch,
        scales,
        decodeMs,
        totalMs: scalesMs + decodeMs,
        wallMs: best(walls),
        flops: genFlops,
        lastTwoShare: { time: sum(lastTwo.map((s) => s.totalMs)) / scalesMs, flops: sum(lastTwo.map((s) => s.flops.total)) / genFlops },
      },
      teacherForced: {
        image: o.image?.name ?? null,
        graphs,
        totalMs: sum(graphs.map((g) => g.ms)),
        wallMs: best(tfWalls),
        scales: m.beginEnds.map(([begin, end], k) => ({ scaleIndex: k, pn: m.patchNums[k], tokens: end - begin, flops: tf.scales[k] })),
        conditioningFlops: tf.conditioning,
        flops: tf.total,
        lastTwoShare: { flops: sum(tf.scales.slice(-2).map((f) => f.total)) / tf.total },
      },
    };
  } finally {
    b.onGraphRun = listening;
  }
}
