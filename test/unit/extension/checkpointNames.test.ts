/** What a checkpoint's file name decides: the picker's extensions, the partner files tried, the exported bundle's id and name. */
import * as assert from 'assert';
import * as path from 'path';
import {
  bundleIdOf,
  bundleNameOf,
  CHECKPOINT_EXTENSIONS,
  isCheckpointName,
  partnerCandidates,
} from '../../../src/extension/checkpointNames';

const DIR = path.resolve('/ckpt');
const at = (name: string) => path.join(DIR, name);
const anyFile = () => true;

describe('extension/checkpointNames', () => {
  it('offers the checkpoint extensions, in any case', () => {
    assert.deepStrictEqual([...CHECKPOINT_EXTENSIONS].sort(), ['bin', 'ckpt', 'pt', 'pth', 'safetensors']);
    for (const n of ['a.pth', 'b.PT', 'c.ckpt', 'd.bin', 'e.SafeTensors']) assert.strictEqual(isCheckpointName(n), true, n);
    for (const n of ['a.json', 'pth', 'a.pth.txt', 'README']) assert.strictEqual(isCheckpointName(n), false, n);
  });

  it('tries the VQ-VAE among names that say vae, vq or tokenizer, in name order, never the file itself', () => {
    const names = ['var_d16.pth', 'vae_ch160v4096z32.pth', 'notes.txt', 'vq.bin', 'tokenizer.safetensors', 'other.pth', 'vae.json'];
    assert.deepStrictEqual(partnerCandidates(at('var_d16.pth'), names, 'vae', anyFile), [
      at('tokenizer.safetensors'),
      at('vae_ch160v4096z32.pth'),
      at('vq.bin'),
    ]);
  });

  it('tries the transformer among names that say var, ar-ckpt, gpt or transformer, but not vae', () => {
    const names = ['vae_ch160v4096z32.pth', 'var_d16.pth', 'ar-ckpt-best.pth', 'gpt.pt', 'var_vae.pth', 'transformer.ckpt'];
    assert.deepStrictEqual(partnerCandidates(at('vae_ch160v4096z32.pth'), names, 'var', anyFile), [
      at('ar-ckpt-best.pth'),
      at('gpt.pt'),
      at('transformer.ckpt'),
      at('var_d16.pth'),
    ]);
  });

  it('leaves out what is not a file, then keeps at most four', () => {
    const names = ['vae1.pth', 'vae2.pth', 'vae3.pth', 'vae4.pth', 'vae5.pth', 'vae-folder.pth'];
    const isFile = (p: string) => !p.endsWith('vae-folder.pth');
    assert.deepStrictEqual(
      partnerCandidates(at('var.pth'), names, 'vae', isFile),
      ['vae1.pth', 'vae2.pth', 'vae3.pth', 'vae4.pth'].map(at),
    );
  });

  it("names the bundle after the VAR file: a folder-safe id, the pair's file names", () => {
    assert.strictEqual(bundleIdOf({ vae: at('vae.pth'), var: at('var_d16.pth') }), 'var_d16');
    assert.strictEqual(bundleIdOf({ vae: at('v.pth'), var: at('ar ckpt (best) #3.pth') }), 'ar-ckpt-best-3');
    assert.strictEqual(bundleIdOf({ vae: at('v.pth'), var: at('__.pth') }), 'checkpoint');
    assert.strictEqual(bundleIdOf({ vae: at('v.pth'), var: at('-.x.pth') }), 'x');
    assert.strictEqual(bundleNameOf({ vae: at('vae.pth'), var: at('var_d16.pth') }), 'var_d16.pth + vae.pth');
    assert.strictEqual(bundleNameOf({ vae: at('ar-ckpt-last.pth'), var: at('ar-ckpt-last.pth') }), 'ar-ckpt-last.pth');
  });
});
