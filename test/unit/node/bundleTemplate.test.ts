/**
 * The test that defines templates: two checkpoints of one architecture with different random weights
 * (python/tests/template_fixtures.py exports both in full). A's bundle plus B's tensors, written by
 * writeBundleFromTemplate, equals B's full export byte for byte (graphs, weights.bin, codebook.bin,
 * trainingHits.bin, the weight map) and its manifest but for the fields that name the export run, and so does A's
 * compact template (graphs, map, constants.bin); the engine gives the same tokens from both. Bad checkpoints get one line and leave nothing behind.
 */
import * as assert from 'assert';
import { execFileSync } from 'child_process';
import * as fs from 'fs';
import * as os from 'os';
import * as path from 'path';
import { Engine } from '../../../src/engine/engine';
import { tokenize } from '../../../src/engine/model/tokenizer';
import { templateKeyOf, writeBundleFromTemplate, type TemplateWriteOptions } from '../../../src/node/bundleTemplate';
import { findMatchingTemplate, findTemplate, writeTemplate } from '../../../src/node/templateStore';
import type { StateDict, TensorDtype, TensorEntry } from '../../../src/node/checkpoint/types';
import { toFloat16Bits } from '../../../src/node/template/convert';
import { fixture, ROOT } from '../fixtures';
import { npyStateDict } from '../npy';

const PYTHON = '/usr/bin/python3'; // PyTorch 1.13 and numpy, as the other tests that run Python

/** A tensor held in memory, as a checkpoint reader gives it. */
function entry(key: string, dtype: TensorDtype, shape: number[], bytes: Buffer): TensorEntry {
  return { key, dtype, shape, byteLength: bytes.byteLength, read: async () => bytes };
}

/** The same tensors with every float32 one but `keep` given as float16 (exact: the float16 export rounded them alike). */
async function asFloat16(sd: StateDict, keep: string): Promise<StateDict> {
  const out: StateDict = new Map();
  for (const [key, t] of sd) {
    if (t.dtype !== 'float32' || key === keep) out.set(key, t);
    else
      out.set(
        key,
        entry(key, 'float16', t.shape, Buffer.from(toFloat16Bits(new Float32Array(new Uint8Array(await t.read()).buffer)).buffer)),
      );
  }
  return out;
}

const read = (dir: string, name: string) => fs.readFileSync(path.join(dir, name));

/** A manifest without the fields that name one export run. */
function withoutRun(dir: string): Record<string, unknown> {
  const m = JSON.parse(read(dir, 'varscope.json').toString('utf8'));
  for (const field of ['exportedAt', 'verification', 'template']) delete m.provenance[field];
  return m;
}

/** Files of a folder and of its parent's hidden entries (a staging folder left behind would show here). */
const leftovers = (dir: string) => fs.readdirSync(path.dirname(dir)).filter((n) => n.startsWith(`.${path.basename(dir)}`));

describe('bundle templates: a template plus a second checkpoint equals its full export', function () {
  this.timeout(900000);
  let work: string;
  let fx: string;
  let sources: { vae: StateDict; var: StateDict };
  let opts: TemplateWriteOptions;

  before(() => {
    work = fs.mkdtempSync(path.join(os.tmpdir(), 'varscope-template-'));
    // VARSCOPE_TEMPLATE_FIXTURES: a folder python/tests/template_fixtures.py already wrote (kept; saves its 4 exports)
    fx = process.env.VARSCOPE_TEMPLATE_FIXTURES ?? path.join(work, 'fixtures');
    if (!process.env.VARSCOPE_TEMPLATE_FIXTURES)
      execFileSync(PYTHON, ['-m', 'tests.template_fixtures', fx], {
        cwd: path.join(ROOT, 'python'),
        env: { ...process.env, PYTHONPATH: path.join(ROOT, 'python') },
        stdio: ['ignore', 'ignore', 'inherit'],
      });
    sources = { vae: npyStateDict(path.join(fx, 'B-npy', 'vae')), var: npyStateDict(path.join(fx, 'B-npy', 'var')) };
    opts = {
      id: 'template-B',
      name: 'Template test B',
      sources: JSON.parse(fs.readFileSync(path.join(fx, 'B-npy', 'sources.json'), 'utf8')),
    };
  });
  after(() => fs.rmSync(work, { recursive: true, force: true }));

  /** Every file of the full export, byte for byte, and the manifest but for the run's fields. */
  function assertSameBundle(written: string, full: string): void {
    const names = fs.readdirSync(full).sort();
    assert.deepStrictEqual(fs.readdirSync(written).sort(), names);
    for (const name of names.filter((n) => n !== 'varscope.json'))
      assert.ok(read(written, name).equals(read(full, name)), `${name} differs`);
    assert.deepStrictEqual(withoutRun(written), withoutRun(full));
  }

  for (const suffix of ['', '-fp16']) {
    it(`A${suffix}'s template and B's tensors give B${suffix}'s export, byte for byte`, async () => {
      const out = path.join(work, `written${suffix}`);
      await writeBundleFromTemplate(path.join(fx, `bundle-A${suffix}`), sources, out, opts);
      assertSameBundle(out, path.join(fx, `bundle-B${suffix}`));
      assert.deepStrictEqual(leftovers(out), []);
      const m = JSON.parse(read(out, 'varscope.json').toString('utf8'));
      assert.deepStrictEqual(m.provenance.template, { from: 'template-A' });
      assert.match(m.provenance.exportedAt, /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\+00:00$/);
    });
  }

  it("A's compact template (writeTemplate: graphs, map, constants.bin) gives B's export byte for byte too", async () => {
    for (const suffix of ['', '-fp16']) {
      const compact = path.join(work, `compact-A${suffix}`);
      await writeTemplate(path.join(fx, `bundle-A${suffix}`), compact, { facts: { note: 'facts' } });
      assert.deepStrictEqual(fs.readdirSync(compact).sort(), [
        'attention.onnx',
        'constants.bin',
        'decoder.onnx',
        'encoder.onnx',
        'latentStep.onnx',
        'quantizer.onnx',
        'transformer.onnx',
        'transformerStep.onnx',
        'varscope.json',
        'weightMap.json',
      ]);
      const m = JSON.parse(read(compact, 'varscope.json').toString('utf8'));
      assert.deepStrictEqual(m.template.facts, { note: 'facts' });
      assert.strictEqual(templateKeyOf(compact), templateKeyOf(path.join(fx, `bundle-A${suffix}`)));
      const out = path.join(work, `written-compact${suffix}`);
      await writeBundleFromTemplate(compact, sources, out, opts);
      assertSameBundle(out, path.join(fx, `bundle-B${suffix}`));
    }
  });

  it('a compact template whose constants.bin changed is refused', async () => {
    const copy = path.join(work, 'changed-compact');
    await writeTemplate(path.join(fx, 'bundle-A'), copy);
    const file = path.join(copy, 'constants.bin');
    const bytes = fs.readFileSync(file);
    bytes[0] ^= 1;
    fs.writeFileSync(file, bytes);
    await refusesFrom(copy, sources, /constants\.bin is not the file its varscope\.json records \(sha256\)/);
    fs.rmSync(copy, { recursive: true });
  });

  it('float16 tensors in the checkpoint give the float16 export too (widened exactly, rounded half to even)', async () => {
    const out = path.join(work, 'written-from-half');
    const half = { vae: await asFloat16(sources.vae, 'quantize.ema_vocab_hit_SV'), var: await asFloat16(sources.var, '') };
    await writeBundleFromTemplate(path.join(fx, 'bundle-A-fp16'), half, out, opts);
    assertSameBundle(out, path.join(fx, 'bundle-B-fp16'));
  });

  it('the engine opens the written bundle and gives the same tokens as the full export', async () => {
    const engine = new Engine();
    try {
      await engine.configure({ provider: 'cpu', threads: 0, maxImagePixels: 1e8 });
      const tokens = [];
      for (const dir of [path.join(work, 'written'), path.join(fx, 'bundle-B')]) {
        const bundle = await engine.bundle(dir);
        const input = await engine.modelInput(bundle, { path: fixture('img0.png') });
        tokens.push(Array.from((await tokenize(bundle, input.tensor)).tokens));
      }
      assert.strictEqual(tokens[0].length, 1 + 4 + 9 + 16 + 36 + 64);
      assert.deepStrictEqual(tokens[0], tokens[1]);
    } finally {
      await engine.dispose();
    }
  });

  it('templateKeyOf reads the key; findTemplate finds the bundle of a key in a folder; an old bundle is no template', () => {
    const key = templateKeyOf(path.join(fx, 'bundle-A'));
    assert.match(key ?? '', /^[0-9a-f]{64}$/);
    assert.notStrictEqual(templateKeyOf(path.join(fx, 'bundle-A-fp16')), key);
    assert.strictEqual(findTemplate(fx, key!), path.join(fx, 'bundle-A'));
    assert.strictEqual(findTemplate(fx, '0'.repeat(64)), undefined);
    assert.strictEqual(templateKeyOf(path.join(ROOT, 'models', 'emoji64-d4')), undefined); // exported before weight maps
  });

  /** writeBundleFromTemplate of A with `sd` fails with one line matching `re` and leaves nothing. */
  const refuses = (sd: { vae: StateDict; var: StateDict }, re: RegExp, signal?: AbortSignal) =>
    refusesFrom(path.join(fx, 'bundle-A'), sd, re, signal);

  /** writeBundleFromTemplate of `template` with `sd` fails with one line matching `re` and leaves nothing. */
  async function refusesFrom(template: string, sd: { vae: StateDict; var: StateDict }, re: RegExp, signal?: AbortSignal) {
    const out = path.join(work, 'refused');
    await assert.rejects(writeBundleFromTemplate(template, sd, out, { ...opts, signal }), (e: Error) => {
      assert.match(e.message, re);
      assert.ok(!e.message.includes('\n'), e.message);
      return true;
    });
    assert.ok(!fs.existsSync(out));
    assert.deepStrictEqual(leftovers(out), []);
  }

  it('a missing key, an extra key or another shape: one line naming the key and both shapes', async () => {
    const missing = new Map(sources.var);
    missing.delete('head.weight');
    await refuses({ vae: sources.vae, var: missing }, /^var checkpoint: key head\.weight \[64, 32\] is missing .*template template-A/);
    const extra = new Map(sources.vae);
    extra.set('decoder.extra.bias', entry('decoder.extra.bias', 'float32', [3], Buffer.alloc(12)));
    await refuses(
      { vae: extra, var: sources.var },
      /^vae checkpoint: extra key decoder\.extra\.bias \[3\] \(not in the template's architecture\)/,
    );
    const shaped = new Map(sources.var);
    shaped.set('head.weight', entry('head.weight', 'float32', [64, 16], Buffer.alloc(64 * 16 * 4)));
    await refuses(
      { vae: sources.vae, var: shaped },
      /^var checkpoint: key head\.weight has shape \[64, 16\], the template's architecture has \[64, 32\]/,
    );
    const ints = new Map(sources.var);
    ints.set('head.weight', entry('head.weight', 'int32', [64, 32], Buffer.alloc(64 * 32 * 4)));
    await refuses(
      { vae: sources.vae, var: ints },
      /^var checkpoint: key head\.weight holds int32, the template stores it as floating point/,
    );
  });

  it('cancelled while writing: Cancelled, and no folder or staging folder is left', async () => {
    const ac = new AbortController();
    const slow = new Map(sources.var);
    const t = slow.get('head.weight')!;
    slow.set('head.weight', { ...t, read: async () => (ac.abort(), t.read()) });
    await refuses({ vae: sources.vae, var: slow }, /^cancelled$/, ac.signal);
  });

  it('a template whose graph changed since its export is refused', async () => {
    const copy = path.join(work, 'changed-template');
    fs.cpSync(path.join(fx, 'bundle-A'), copy, { recursive: true });
    fs.appendFileSync(path.join(copy, 'decoder.onnx'), Buffer.alloc(1));
    await refusesFrom(copy, sources, /decoder\.onnx is not the file its varscope\.json records \(sha256\)/);
    fs.rmSync(copy, { recursive: true });
  });

  it('a map that places some checkpoint tensor nowhere (torch merged tensors of equal value) is no template', async () => {
    const copy = path.join(work, 'merged-template');
    fs.cpSync(path.join(fx, 'bundle-A'), copy, { recursive: true });
    const file = path.join(copy, 'weightMap.json');
    const map = JSON.parse(fs.readFileSync(file, 'utf8'));
    const regions = map.files['weights.bin'].regions as Array<{ source?: { role: string; key: string } }>;
    const lost = regions.find((r) => r.source?.role === 'var' && r.source.key.endsWith('attn.proj.bias'))!.source!.key;
    // as the export of a checkpoint whose proj biases were all zero: one region, the other blocks' biases in none
    map.files['weights.bin'].regions = regions.filter((r) => r.source?.key !== lost);
    fs.writeFileSync(file, JSON.stringify(map));
    await assert.rejects(
      writeBundleFromTemplate(copy, sources, path.join(work, 'y'), opts),
      new RegExp(`1 var tensors \\(${lost.replace(/\./g, '\\.')}, …\\) are in no region: torch merged tensors of equal value`),
    );
    const match = findMatchingTemplate([work], sources);
    assert.ok(!('dir' in match) || match.dir !== copy, 'no match for the checkpoints either');
    fs.rmSync(copy, { recursive: true });
  });

  it('a bundle without a weight map is not a template', async () => {
    await assert.rejects(
      writeBundleFromTemplate(path.join(fx, 'B-npy'), sources, path.join(work, 'x'), opts),
      /is not a bundle|is not a template/,
    );
  });
});
