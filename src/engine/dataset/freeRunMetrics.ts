/**
 * Free running over a folder from its images' continuation statistics (freeRunning.ts): per mode, one curve per prefix
 * over the later scales (agreement with the image's tokens, PSNR, NLL of the model's own tokens beside the teacher-forced
 * NLL of the true ones), and per class and per image the agreement at the finest scale and the final PSNR per prefix.
 * Sums run over the rows in the order given (the folder's listing order), so one run and a merge agree exactly.
 */
import type { FreeRunCurve, FreeRunMode, FreeRunningEvaluation, FreeRunRow, FreeRunSpec, ImageStats } from '../../shared/evaluation';

/** The facts the aggregation needs: the scales, the class names, and the teacher-forced NLL of the true tokens per scale. */
export interface FreeRunFacts {
  patchNums: number[];
  classes: string[];
  trueNll: number[];
}

/** A row of one image or class: finest-scale agreement and final PSNR per prefix. */
function rowOf(prefixes: NonNullable<ImageStats['freeRunning']>[FreeRunMode], lastTokens: number): FreeRunRow {
  return {
    agreement: prefixes!.map((p) => p.hits[p.hits.length - 1] / lastTokens),
    psnr: prefixes!.map((p) => p.psnr[p.psnr.length - 1]),
  };
}

/** The free-running result of the rows (each must hold every mode of the spec). */
export function freeRunningOf(facts: FreeRunFacts, rows: readonly ImageStats[], spec: FreeRunSpec): FreeRunningEvaluation {
  const { patchNums, classes, trueNll } = facts;
  const SN = patchNums.length;
  const n = rows.length;
  const lastTokens = patchNums[SN - 1] ** 2;
  const curves: FreeRunningEvaluation['curves'] = {};
  for (const mode of spec.modes) {
    const list: FreeRunCurve[] = [];
    for (let kept = 1; kept < SN; kept++) {
      const scales = patchNums.slice(kept).map((pn, i) => {
        let hits = 0;
        let nll = 0;
        let psnr = 0;
        for (const r of rows) {
          const p = r.freeRunning![mode]![kept - 1];
          hits += p.hits[i];
          nll += p.nll[i];
          psnr += p.psnr[i];
        }
        const N = n * pn * pn;
        const j = kept + i;
        return { scaleIndex: j, pn, agreement: N ? hits / N : 0, psnr: n ? psnr / n : 0, nll: N ? nll / N : 0, trueNll: trueNll[j] };
      });
      list.push({ kept, scales });
    }
    curves[mode] = list;
  }
  const perImage = rows.map((r) => {
    const row: FreeRunningEvaluation['perImage'][number] = { file: r.file, classId: r.classId };
    for (const mode of spec.modes) row[mode] = rowOf(r.freeRunning![mode], lastTokens);
    return row;
  });
  const byClass = new Map<number, typeof perImage>();
  for (const r of perImage) {
    const list = byClass.get(r.classId);
    if (list) list.push(r);
    else byClass.set(r.classId, [r]);
  }
  const perClass = [...byClass.entries()]
    .sort((a, b) => a[0] - b[0])
    .map(([classId, list]) => {
      const row: FreeRunningEvaluation['perClass'][number] = { classId, name: classes[classId] ?? 'no class', images: list.length };
      for (const mode of spec.modes) {
        const mean = (key: keyof FreeRunRow) =>
          Array.from({ length: SN - 1 }, (_, k) => list.reduce((a, r) => a + r[mode]![key][k], 0) / list.length);
        row[mode] = { agreement: mean('agreement'), psnr: mean('psnr') };
      }
      return row;
    });
  return { ...spec, generations: n * (SN - 1) * spec.modes.length, curves, perClass, perImage };
}
