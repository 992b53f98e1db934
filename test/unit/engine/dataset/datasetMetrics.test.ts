/**
 * The pieces of a folder evaluation on cases whose answer is known: ECE of synthetic predictions, the baselines
 * on a tiny pyramid worked out by hand, one row's scores from its logits, SSIM and PSNR limits.
 */
import * as assert from 'assert';
import {
  copyCoarserHits,
  frequencyPrior,
  PRIOR_UNIFORM_MIX,
  scoreLeaveOneOut,
  scorePrior,
} from '../../../../src/engine/analysis/baselines';
import { ReliabilityCounter } from '../../../../src/engine/analysis/calibration';
import { DatasetMetrics, scoreRow } from '../../../../src/engine/dataset/datasetMetrics';
import { MAX_PSNR, psnr, ssim } from '../../../../src/engine/image/imageQuality';

const close = (a: number, b: number, tol = 1e-12, what = '') => assert.ok(Math.abs(a - b) <= tol, `${what} ${a} vs ${b}`);

describe('folder evaluation metrics', () => {
  it('ECE of a synthetic case: 0.9-confident predictions right 60 % of the time -> 0.3', () => {
    const r = new ReliabilityCounter();
    for (let i = 0; i < 100; i++) r.add(0.9, i < 60);
    close(r.ece(), 0.3, 1e-12, 'ece');
    const bins = r.diagram();
    assert.strictEqual(bins.length, 15);
    const full = bins.filter((b) => b.count > 0);
    assert.strictEqual(full.length, 1);
    assert.ok(full[0].lo <= 0.9 && 0.9 < full[0].hi);
    close(full[0].accuracy!, 0.6);
    close(full[0].confidence!, 0.9);
  });

  it('ECE weights bins by their share: half at 0.25 (acc 0.5), half at 0.95 (acc 1) -> 0.15; p = 1 falls in the last bin', () => {
    const r = new ReliabilityCounter();
    for (let i = 0; i < 50; i++) r.add(0.25, i % 2 === 0);
    for (let i = 0; i < 50; i++) r.add(0.95, true);
    close(r.ece(), 0.5 * 0.25 + 0.5 * 0.05, 1e-12, 'ece');
    const perfect = new ReliabilityCounter();
    perfect.add(1, true);
    assert.strictEqual(perfect.diagram()[14].count, 1);
    assert.strictEqual(perfect.ece(), 0);
    assert.strictEqual(new ReliabilityCounter().ece(), 0);
  });

  it('copy-coarser on a 2x2 -> 3x3 case by hand (nearest: rows/cols 0,1 <- 0 and 2 <- 1)', () => {
    // coarse [[1, 2], [3, 4]] upsampled (nearest) to 3x3 = [[1,1,2],[1,1,2],[3,3,4]]
    const coarse = [1, 2, 3, 4];
    assert.strictEqual(copyCoarserHits(coarse, 2, [1, 1, 2, 1, 1, 2, 3, 3, 4], 3), 9);
    assert.strictEqual(copyCoarserHits(coarse, 2, [1, 2, 2, 0, 1, 2, 3, 4, 4], 3), 6); // misses at (0,1), (1,0), (2,1)
    // 1x1 -> 2x2: every position copies the single coarse token
    assert.strictEqual(copyCoarserHits([7], 1, [7, 0, 7, 7], 2), 3);
  });

  it('frequency prior by hand: counts [3, 1, 0, 0] predict code 0; NLL from the counts mixed with uniform', () => {
    const p = frequencyPrior([3, 1, 0, 0]);
    assert.strictEqual(p.argmax, 0);
    const m = PRIOR_UNIFORM_MIX;
    close(Math.exp(p.logProb[0]), (1 - m) * 0.75 + m / 4);
    close(Math.exp(p.logProb[2]), m / 4);
    const s = scorePrior(p, [0, 0, 1]);
    assert.strictEqual(s.hits, 2);
    close(s.nll, -2 * Math.log((1 - m) * 0.75 + m / 4) - Math.log((1 - m) * 0.25 + m / 4));
    // leave-one-out: folder counts [3, 1, 0, 0] include this image's tokens [0, 1]; without them [2, 0, 0, 0]
    const counts = Float64Array.from([3, 1, 0, 0]);
    const loo = scoreLeaveOneOut(counts, [0, 1]);
    assert.strictEqual(loo.hits, 1);
    close(loo.nll, -Math.log((1 - m) * 1 + m / 4) - Math.log(m / 4));
    assert.deepStrictEqual(Array.from(counts), [3, 1, 0, 0]); // restored
  });

  it('one position from its logits: rank, NLL, entropy, confidence', () => {
    const logits = Float32Array.from([Math.log(0.5), Math.log(0.25), Math.log(0.25)]);
    const r = scoreRow(logits, 0, 3, 1);
    assert.strictEqual(r.rank, 1);
    close(r.nll, Math.log(4), 1e-6);
    close(r.entropy, 1.5 * Math.log(2), 1e-6);
    close(r.confidence, 0.5, 1e-6);
    close(r.sumSquares, 0.25 + 2 * 0.0625, 1e-6);
    assert.strictEqual(scoreRow(logits, 0, 3, 2).rank, 2); // tie with id 1: the lower id ranks first, as argmax
    assert.strictEqual(scoreRow(logits, 0, 3, 0).rank, 0);
  });

  it('SSIM is 1 and PSNR the cap for an exact reconstruction; SSIM drops with noise', () => {
    const S = 16;
    const a = Float32Array.from({ length: 3 * S * S }, (_, i) => Math.sin(i * 0.37) * 0.8);
    assert.strictEqual(psnr(a, 0, a, 0, S), MAX_PSNR);
    close(ssim(a, 0, a, 0, S), 1, 1e-12);
    const b = Float32Array.from(a, (v, i) => v + (i % 2 ? 0.2 : -0.2));
    close(psnr(a, 0, b, 0, S), 10 * Math.log10(1 / 0.01), 1e-5); // error 0.1 on [0,1] everywhere (float32)
    assert.ok(ssim(a, 0, b, 0, S) < 0.99);
  });

  it('DatasetMetrics on a tiny model: accuracy, baselines and usage from two images worked out by hand', () => {
    // patchNums [1, 2], V = 3, S = 11 (one SSIM window), L = 5
    const model = {
      patchNums: [1, 2],
      beginEnds: [
        [0, 1],
        [1, 5],
      ] as Array<[number, number]>,
      vocabSize: 3,
      imageSize: 11,
      classes: ['a'],
    };
    const m = new DatasetMetrics(model);
    const S = 11;
    const img = new Float32Array(3 * S * S);
    const dec = new Float32Array(2 * 3 * S * S);
    // logits that put all mass on code 0 everywhere
    const logits = new Float32Array(5 * 3);
    for (let i = 0; i < 5; i++) logits[i * 3] = 30;
    m.add({ file: 'x', classId: 0, tokens: Int32Array.from([0, 0, 0, 1, 2]), logits, decoded: dec, input: img });
    m.add({ file: 'y', classId: 0, tokens: Int32Array.from([1, 1, 1, 1, 1]), logits, decoded: dec, input: img });
    const r = m.result({
      model: { id: 't', name: 't', dir: '', step: null },
      folder: '',
      labels: { kind: 'none' },
      classMap: [],
      classMatch: null,
      failed: [],
      cancelled: false,
      elapsedMs: 0,
    });
    close(r.scales[0].accuracy, 0.5);
    close(r.scales[1].accuracy, 2 / 8);
    // copy-coarser at scale 1: image x copies 0 -> hits at positions 0, 1; image y copies 1 -> 4 hits
    close(r.scales[1].baselines.copyCoarser!.accuracy, 6 / 8);
    assert.strictEqual(r.scales[0].baselines.copyCoarser, null);
    // leave-one-out prior at scale 0: x sees [0, 1, 0] -> predicts 1 (miss); y sees [1, 0, 0] -> predicts 0 (miss)
    close(r.scales[0].baselines.priorFolder.accuracy, 0);
    assert.deepStrictEqual(r.usage.counts, [
      [1, 1, 0],
      [2, 5, 1],
    ]);
    assert.strictEqual(r.scales[1].used, 3);
    assert.strictEqual(r.scales[0].dead, 1);
    assert.strictEqual(r.scales[0].psnr, MAX_PSNR);
    close(r.scales[0].ssim, 1, 1e-12);
    // Brier: all mass on code 0, so 0 where the true code is 0 and 2 elsewhere; scale 0 right 1 of 2, scale 1 2 of 8
    close(r.scales[0].brier, 1, 1e-9);
    close(r.scales[1].brier, (6 * 2) / 8, 1e-9);
    close(r.overall.brier, (7 * 2) / 10, 1e-9);
    // confidence ~1 everywhere, right 3 of 10 times: ECE 0.7
    close(r.overall.ece, 0.7, 1e-9);
    // rarity of x: scale 0 code 0 has frequency 1/2; scale 1 codes 0, 0, 1, 2 have 2/8, 2/8, 5/8, 1/8
    close(r.perImage[0].rarity, (Math.log(2) + 2 * Math.log(4) + Math.log(8 / 5) + Math.log(8)) / 5, 1e-12);
  });
});
