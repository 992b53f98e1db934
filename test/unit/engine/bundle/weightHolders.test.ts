/**
 * WeightHolders: a large bundle's weight-holding graphs, released to make room. On stand-in graphs: the exclusive
 * pair never held together, the share's budget with the least recently used idle graph released first, a running
 * graph kept, a released graph opened again on its next run, a closed bundle refused. On the official Infinity
 * fixture B (its bundle counted as large): teacher forcing holds the teacher-forced graph, a generation the step graph
 * alone, and teacher forcing again the teacher-forced graph alone, with the same accuracies.
 */
import * as assert from 'assert';
import * as fs from 'fs';
import * as os from 'os';
import * as path from 'path';
import { WeightHolders } from '../../../../src/engine/bundle/weightHolders';
import { Engine } from '../../../../src/engine/engine';
import type { Graph } from '../../../../src/engine/runtime/graph';
import type { HostTensor } from '../../../../src/engine/runtime/tensor';
import { requireBundle, ROOT } from '../../fixtures';
import { readNpy, writeNpyFloat32 } from '../../npy';

/** A graph that records its opens and disposals; a run waits for `gate` when one is set. */
function standIns() {
  const log: string[] = [];
  let gate: Promise<void> | undefined;
  const open = (key: string) => async (): Promise<Graph> => {
    log.push(`open ${key}`);
    return {
      file: key,
      provider: 'cpu',
      inputs: [],
      outputs: [],
      placement: Promise.resolve(undefined),
      deviceOutputs: [],
      run: async () => {
        await gate;
        return {} as Record<string, HostTensor>;
      },
      runDevice: async () => ({}) as never,
      dispose: async () => void log.push(`release ${key}`),
    } as unknown as Graph;
  };
  return { log, open, hold: (p: Promise<void> | undefined) => (gate = p) };
}

describe('WeightHolders', function () {
  this.timeout(300000);
  let saved: [number, number];
  beforeEach(() => (saved = [WeightHolders.largeBytes, WeightHolders.share]));
  afterEach(() => ([WeightHolders.largeBytes, WeightHolders.share] = saved));

  it('keeps the exclusive pair apart, and within the share releases the least recently used idle graph first', async () => {
    const gb = 2 ** 30;
    WeightHolders.share = (2.5 * gb) / os.totalmem(); // room for two graphs of 1 GB, not three
    const { log, open } = standIns();
    const h = new WeightHolders(gb, () => false, 'm');
    assert.ok(h.large);
    const tf = await h.open('tf', open('tf'), true);
    const attn = await h.open('attn', open('attn'), false);
    assert.deepStrictEqual(h.held(), ['tf', 'attn']);
    await tf.run({});
    await h.open('step', open('step'), true); // releases tf (exclusive); then two fit
    assert.deepStrictEqual(h.held(), ['attn', 'step']);
    await attn.run({}); // attn now the most recent
    await tf.run({}); // opens again: releases step (exclusive); attn and tf fit
    assert.deepStrictEqual(h.held().sort(), ['attn', 'tf']);
    await h.open('other', open('other'), false); // three would not fit: attn (older than tf) goes
    assert.deepStrictEqual(h.held().sort(), ['other', 'tf']);
    assert.deepStrictEqual(log, [
      'open tf',
      'open attn',
      'release tf',
      'open step',
      'release step',
      'open tf',
      'release attn',
      'open other',
    ]);
  });

  it('never releases a graph while it runs, and refuses to open one once the bundle is closed', async () => {
    WeightHolders.share = 1e-12; // room for none: every open releases what it can
    const { log, open, hold } = standIns();
    let closed = false;
    const h = new WeightHolders(2 ** 30, () => closed, 'm');
    const tf = await h.open('tf', open('tf'), true);
    let release!: () => void;
    hold(new Promise<void>((r) => (release = r)));
    const running = tf.run({});
    await h.open('step', open('step'), true);
    assert.deepStrictEqual(h.held(), ['tf', 'step'], 'the running graph stays');
    hold(undefined);
    release();
    await running;
    closed = true;
    await assert.rejects(h.open('other', open('other'), false), /the model was closed/);
    assert.deepStrictEqual(log, ['open tf', 'open step']);
  });

  it('an Infinity bundle counted as large holds one of its teacher-forced, step and attention graphs at a time (fixture B)', async () => {
    WeightHolders.largeBytes = 0;
    const model = requireBundle(path.join(ROOT, 'out', 'bundles', 'infinity-B'));
    const fx = (f: string) => path.join(ROOT, 'test', 'fixtures', 'infinity', 'infinity-B', f);
    const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'varscope-holders-'));
    const engine = new Engine();
    try {
      await engine.configure({ provider: 'cpu', threads: 0, maxImagePixels: 1e8 });
      const kv = readNpy(fx('text_kv_compact.npy'));
      const cu = Array.from(readNpy(fx('text_cu_seqlens_k.npy')).data as BigInt64Array, Number);
      const width = kv.shape[1];
      const featuresFile = path.join(tmp, 'caption.npy');
      writeNpyFloat32(featuresFile, [cu[1], width], (kv.data as Float32Array).slice(0, cu[1] * width));
      const image = { path: fx('image.png') };
      const first = await engine.evaluateBits({ model, image, text: { featuresFile } });
      const bundle = await engine.infinityBundle(model, 'test');
      const sid = first.schedule;
      assert.deepStrictEqual(bundle.weightHolders, [`${sid}/infinityTransformer`]);
      const info = bundle.manifest.schedules.find((s) => s.id === sid)!;
      const n = info.scales.length;
      await engine.generate({
        model,
        settings: {
          family: 'infinity',
          text: { featuresFile },
          hDivW: info.hDivW,
          seed: 0,
          cfgList: Array<number>(n).fill(3),
          tauList: Array<number>(n).fill(1),
          topK: 1,
          topP: 0,
        },
      });
      assert.deepStrictEqual(bundle.weightHolders, [`${sid}/infinityStep`]);
      const attention = await engine.attention({ model, image, text: { featuresFile }, layer: 1, head: 'mean' });
      assert.deepStrictEqual(bundle.weightHolders, [`${sid}/infinityAttention`]);
      const again = await engine.evaluateBits({ model, image, text: { featuresFile } });
      assert.deepStrictEqual(bundle.weightHolders, [`${sid}/infinityTransformer`]);
      assert.deepStrictEqual(again.scales, first.scales);
      const attentionAgain = await engine.attention({ model, image, text: { featuresFile }, layer: 1, head: 'mean' });
      assert.deepStrictEqual(attentionAgain.weights, attention.weights); // the released graph opened again
    } finally {
      await engine.dispose();
      fs.rmSync(tmp, { recursive: true, force: true });
    }
  });
});
