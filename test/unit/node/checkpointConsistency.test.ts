/**
 * The trainer's args and config against a bundle's manifest: each mismatch one warning naming both sides (patch
 * numbers from args.pn, else trainer.config.patch_nums; depth; classes; the sampling it was configured with as a note),
 * none when they agree or the checkpoint says nothing.
 */
import * as assert from 'assert';
import { trainerWarnings } from '../../../src/node/checkpointConsistency';
import type { BundleManifest } from '../../../src/shared/manifest';

const manifest = {
  patchNums: [1, 2, 3, 4],
  var: { depth: 16, numClasses: 1000 },
  sampling: { cfg: 1.5, topK: 900, topP: 0.96 },
} as unknown as BundleManifest;

describe('trainerWarnings: a trainer checkpoint against its bundle', () => {
  it('agreeing args and config, or none at all, give no warning', () => {
    const args = { pn: '1_2_3_4', depth: 16, num_classes: 1000, cfg: 1.5, top_k: 900, top_p: 0.96 };
    assert.deepStrictEqual(trainerWarnings({ args, trainerConfig: { patch_nums: [1, 2, 3, 4] } }, manifest), []);
    assert.deepStrictEqual(trainerWarnings({}, manifest), []);
  });

  it('each mismatch is one warning naming both sides; the sampling settings are a note', () => {
    const w = trainerWarnings(
      { args: { depth: 20, num_classes: 10, top_k: 600, top_p: 0.8 }, trainerConfig: { patch_nums: [1, 2, 4] } },
      manifest,
    );
    assert.deepStrictEqual(
      w.map((x) => [x.check, x.message]),
      [
        [
          'patchNums',
          'patch numbers differ: the checkpoint says trainer.config.patch_nums (1, 2, 4), the bundle has patchNums (1, 2, 3, 4)',
        ],
        ['depth', 'depth differs: the checkpoint says args.depth 20, the bundle has depth 16'],
        ['numClasses', 'number of classes differs: the checkpoint says args.num_classes 10, the bundle has 1000 classes'],
        ['samplingArgs', 'note: the run was configured with top_k 600, top_p 0.8; the bundle samples with topK 900, topP 0.96 by default'],
      ],
    );
  });

  it("a shorthand args.pn ('256') is left to trainer.config.patch_nums, then args.patch_nums", () => {
    const w = trainerWarnings({ args: { pn: '256', patch_nums: [1, 2, 3, 5] } }, manifest);
    assert.deepStrictEqual(
      w.map((x) => x.model),
      ['args.patch_nums (1, 2, 3, 5)'],
    );
    assert.deepStrictEqual(trainerWarnings({ args: { pn: '256' }, trainerConfig: { patch_nums: [1, 2, 3, 4] } }, manifest), []);
  });

  it("args.pn ('1-2-4' too) comes before trainer.config; a bundle without sampling is held to the official defaults", () => {
    const { sampling: _, ...noSampling } = manifest;
    const w = trainerWarnings(
      { args: { pn: '1-2-4', cfg: 1.5 }, trainerConfig: { patch_nums: [1, 2, 3, 4] } },
      noSampling as BundleManifest,
    );
    assert.deepStrictEqual(
      w.map((x) => [x.model, x.given]),
      [
        ["args.pn '1-2-4'", 'patchNums (1, 2, 3, 4)'],
        ['cfg 1.5', 'cfg 4'],
      ],
    );
  });
});
