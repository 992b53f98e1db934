/**
 * Edit masks: the bilinear resize of the keep mask against PyTorch's F.interpolate (the official demo's
 * replace_embedding), and the forcing of tokens per scale.
 */
import * as assert from 'assert';
import { execFileSync } from 'child_process';
import { editForcing, footprintKeepMask, resizeMask } from '../../../../src/engine/model/editForcing';
import type { BundleManifest } from '../../../../src/shared/manifest';

const PATCH = [1, 2, 3, 4, 5, 6, 8, 10, 13, 16];

describe('editing', () => {
  it('keep mask resized like F.interpolate(bilinear, align_corners=False) > 0.5', function () {
    this.timeout(60000);
    const masks: number[][] = [];
    for (let m = 0; m < 4; m++) {
      const mask = new Array(256).fill(1);
      const [y0, y1, x0, x1] = [
        [4, 12, 4, 12],
        [0, 8, 0, 16],
        [3, 9, 7, 15],
        [5, 6, 5, 6],
      ][m];
      for (let y = y0; y < y1; y++) for (let x = x0; x < x1; x++) mask[y * 16 + x] = 0;
      masks.push(mask);
    }
    const py = `
import json, sys, torch
import torch.nn.functional as F
torch.set_num_threads(1)
masks = json.loads(sys.stdin.read())
out = []
for m in masks:
    t = torch.tensor(m, dtype=torch.float).reshape(1, 1, 16, 16)
    out.append([F.interpolate(t, size=(pn, pn), mode='bilinear', align_corners=False).gt(0.5).int().flatten().tolist() for pn in ${JSON.stringify(PATCH)}])
print(json.dumps(out))
`;
    const ref = JSON.parse(execFileSync('/usr/bin/python3', ['-c', py], { input: JSON.stringify(masks) }).toString()) as number[][][];
    masks.forEach((m, i) =>
      PATCH.forEach((pn, k) => assert.deepStrictEqual(Array.from(resizeMask(Uint8Array.from(m), 16, pn)), ref[i][k], `mask ${i} pn ${pn}`)),
    );
  });

  it('forcing: coarser scales kept, edited positions set, finer scales free inside the footprint', () => {
    const m = { patchNums: PATCH, vae: { vocabSize: 512 } } as unknown as BundleManifest;
    const source = PATCH.map((pn, k) => Int32Array.from({ length: pn * pn }, (_, i) => (k * 31 + i) % 512));
    const f = editForcing(m, source, { scaleIndex: 3, positions: [5], tokens: [77] });
    for (let k = 0; k < 3; k++) assert.deepStrictEqual(f[k], source[k]);
    assert.strictEqual(f[3][5], 77);
    assert.deepStrictEqual(
      Array.from(f[3]).filter((_, i) => i !== 5),
      Array.from(source[3]).filter((_, i) => i !== 5),
    );
    // position 5 of a 4x4 grid = row 1, col 1 -> latent rows/cols 4..7 of 16 are free at the last scale
    const last = f[9];
    for (let y = 0; y < 16; y++)
      for (let x = 0; x < 16; x++) assert.strictEqual(last[y * 16 + x] === -1, y >= 4 && y < 8 && x >= 4 && x < 8, `(${y},${x})`);
    const r = editForcing(m, source, { scaleIndex: 0, positions: [0], tokens: 'resample' });
    assert.strictEqual(r[0][0], -1);
    assert.deepStrictEqual(Array.from(footprintKeepMask(2, [0, 1, 2, 3], 16)), new Array(256).fill(0));
  });

  it('rejects bad edits', () => {
    const m = { patchNums: [1, 2], vae: { vocabSize: 8 } } as unknown as BundleManifest;
    const src = [Int32Array.from([1]), Int32Array.from([1, 2, 3, 4])];
    assert.throws(() => editForcing(m, src, { scaleIndex: 1, positions: [4], tokens: [1] }), /position 4/);
    assert.throws(() => editForcing(m, src, { scaleIndex: 1, positions: [0], tokens: [8] }), /token 8/);
    assert.throws(() => editForcing(m, src, { scaleIndex: 2, positions: [], tokens: [] }), /scale 2/);
  });
});
