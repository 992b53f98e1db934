/**
 * The text encoder of an Infinity bundle against transformers, on a tiny T5 made offline by the PyTorch 2.x venv
 * (python/tests/t5_tiny.py: random weights, a sentencepiece unigram tokenizer with the nmt_nfkc charsmap, converted
 * by transformers): `python -m varscope.infinity.text_encoder` adds it to a copy of fixture bundle infinity-A, our
 * tokenizer gives transformers' ids on every prompt (chosen ones and 300 random ones; also the same tokenizer in
 * transformers 4's form, encoded by tokenizers), and the features of a prompt are the official encode_prompt's
 * within 1e-5. The venv is the one with transformers (tools/setup.sh): without it these tests fail, they never skip.
 */
import * as assert from 'assert';
import { spawn } from 'child_process';
import * as fs from 'fs';
import * as os from 'os';
import * as path from 'path';
import { pythonPackageDir, pythonPathWith } from '../../../../src/client/checkpointExport';
import { Engine } from '../../../../src/engine/engine';
import { InfinityBundle } from '../../../../src/engine/bundle/infinityBundle';
import { encodePrompt } from '../../../../src/engine/model/textEncoder';
import { TextTokenizer } from '../../../../src/engine/text/textTokenizer';
import { VarScopeError } from '../../../../src/shared/errors';
import { requireBundle, ROOT, runCli } from '../../fixtures';
import { maxAbsDiff, npyFloats, readNpy } from '../../npy';

const PYTHON = path.join(ROOT, '.venv-torch2', 'bin', 'python');
/** Features against the padded PyTorch encoder (float32 both). */
const TOL = 1e-5;

interface Expected {
  prompt: string;
  ids: number[];
  features?: string;
}

/** Run the venv's Python; resolves when it exits 0, else fails with its stderr. */
async function python(args: string[]): Promise<void> {
  assert.ok(fs.existsSync(PYTHON), `${PYTHON} is missing: tools/setup.sh makes the PyTorch 2.x venv with transformers`);
  const p = spawn(PYTHON, args, { env: { ...process.env, PYTHONPATH: pythonPathWith(pythonPackageDir(ROOT)) } });
  let stderr = '';
  p.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
  const status = await new Promise<number | null>((resolve) => p.on('close', resolve));
  assert.strictEqual(status, 0, stderr.slice(-3000));
}

describe('Infinity text encoder: a tiny T5 against transformers', function () {
  this.timeout(300000);
  let tmp: string;
  let bundleDir: string;
  let engine: Engine;
  let expected: Expected[];
  const MAX_LENGTH = 512;

  before(async () => {
    tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'varscope-t5-'));
    await python([path.join(ROOT, 'python', 'tests', 't5_tiny.py'), '--out', tmp, '--width', '128', '--max-length', String(MAX_LENGTH)]);
    bundleDir = path.join(tmp, 'bundle');
    fs.cpSync(requireBundle(path.join(ROOT, 'out', 'bundles', 'infinity-A')), bundleDir, { recursive: true });
    await python(['-m', 'varscope.infinity.text_encoder', '--t5', path.join(tmp, 't5'), '--bundle', bundleDir]);
    expected = JSON.parse(fs.readFileSync(path.join(tmp, 'expected.json'), 'utf8')) as Expected[];
    engine = new Engine();
    await engine.configure({ provider: 'cpu', threads: 0, maxImagePixels: 1e8 });
  });
  after(async () => {
    await engine?.dispose();
    if (tmp) fs.rmSync(tmp, { recursive: true, force: true });
  });

  /** Prompts whose ids differ from transformers', as readable lines. */
  function mismatches(tokenizer: TextTokenizer, cases: Expected[]): string[] {
    return cases
      .map((c) => ({ c, got: tokenizer.encode(c.prompt, MAX_LENGTH) }))
      .filter(({ c, got }) => JSON.stringify(got) !== JSON.stringify(c.ids))
      .map(({ c, got }) => `${JSON.stringify(c.prompt)}: got [${got.join(',')}], transformers [${c.ids.join(',')}]`);
  }

  it("the bundle's tokenizer.json gives transformers' ids on every prompt", () => {
    const file = path.join(bundleDir, 'tokenizer.json');
    const tokenizer = TextTokenizer.parse(fs.readFileSync(file, 'utf8'), file);
    assert.strictEqual(expected.length, 314);
    assert.deepStrictEqual(mismatches(tokenizer, expected), []);
    // the set covers what it claims to: truncation, the empty prompt, unknown characters, special tokens
    const byPrompt = (p: string) => expected.find((c) => c.prompt === p)?.ids ?? [];
    assert.strictEqual(Math.max(...expected.map((c) => c.ids.length)), MAX_LENGTH);
    assert.deepStrictEqual(byPrompt(''), [1]);
    assert.ok(
      expected.some((c) => c.ids.includes(2)),
      'some prompt has an unknown character',
    );
    // full-width letters and digits reach the model as ASCII (the nmt_nfkc charsmap), so both spell the same ids
    assert.deepStrictEqual(tokenizer.encode('ＦＵＬＬ １２３', MAX_LENGTH), tokenizer.encode('FULL 123', MAX_LENGTH));
  });

  it("the same tokenizer in transformers 4's form (Replace normalizer, Metaspace alone) gives tokenizers' ids", () => {
    const file = path.join(tmp, 'variant', 'tokenizer.json');
    const tokenizer = TextTokenizer.parse(fs.readFileSync(file, 'utf8'), file);
    const cases = JSON.parse(fs.readFileSync(path.join(tmp, 'variant', 'expected.json'), 'utf8')) as Expected[];
    assert.strictEqual(cases.length, 314);
    assert.deepStrictEqual(mismatches(tokenizer, cases), []);
  });

  it("a prompt's features are the official encode_prompt's within 1e-5, and the bundle still verifies", async () => {
    const bundle = await engine.anyBundle(bundleDir); // opening checks every file's sha256, the new ones included
    assert.ok(bundle instanceof InfinityBundle);
    assert.ok(bundle.manifest.textEncoder);
    const info = await engine.openModel({ model: bundleDir });
    assert.strictEqual(info.family === 'infinity' && info.textEncoder, true); // the panel's prompt field is on
    let worst = 0;
    for (const c of expected.filter((e) => e.features)) {
      const got = await encodePrompt(bundle, c.prompt);
      assert.deepStrictEqual(got.ids, c.ids);
      const want = npyFloats(readNpy(path.join(tmp, c.features as string)));
      assert.strictEqual(got.features.length, want.length, c.prompt);
      worst = Math.max(worst, maxAbsDiff(got.features, want));
    }
    assert.ok(worst <= TOL, `max abs diff ${worst} > ${TOL}`);
  });

  it('evaluateBits with a prompt equals evaluateBits with its features file', async () => {
    const c = expected[0];
    const image = { path: path.join(ROOT, 'test', 'fixtures', 'infinity', 'infinity-A', 'image.png') };
    const byPrompt = await engine.evaluateBits({ model: bundleDir, image, text: { prompt: c.prompt } });
    const byFile = await engine.evaluateBits({ model: bundleDir, image, text: { featuresFile: path.join(tmp, c.features as string) } });
    assert.strictEqual(byPrompt.captionTokens, c.ids.length);
    assert.strictEqual(byFile.captionTokens, c.ids.length);
    assert.deepStrictEqual(
      byPrompt.scales.map((s) => s.bitAccuracy),
      byFile.scales.map((s) => s.bitAccuracy),
    );
  });

  it("attention on a prompt labels the cross-attention with the prompt's pieces, as with its features file", async () => {
    const c = expected[0];
    const file = path.join(bundleDir, 'tokenizer.json');
    const tokenizer = TextTokenizer.parse(fs.readFileSync(file, 'utf8'), file);
    const image = { path: path.join(ROOT, 'test', 'fixtures', 'infinity', 'infinity-A', 'image.png') };
    const ask = { model: bundleDir, image, layer: 1, head: 'mean' as const };
    const byPrompt = await engine.attention({ ...ask, text: { prompt: c.prompt } });
    const byFile = await engine.attention({ ...ask, text: { featuresFile: path.join(tmp, c.features as string) } });
    assert.deepStrictEqual(
      byPrompt.infinity?.cross.tokens,
      c.ids.map((id) => tokenizer.piece(id)),
    );
    assert.strictEqual(byPrompt.infinity?.cross.tokens?.at(-1), '</s>');
    assert.strictEqual(byFile.infinity?.cross.tokens, undefined);
    assert.ok(maxAbsDiff(byPrompt.infinity!.cross.weights, byFile.infinity!.cross.weights) <= TOL);
  });

  it("evaluate on a folder: an image's NAME.txt is its prompt, scored as evaluateBits scores the prompt", async () => {
    const c = expected[0];
    const folder = path.join(tmp, 'captioned');
    fs.mkdirSync(folder, { recursive: true });
    const image = path.join(folder, 'a.png');
    fs.copyFileSync(path.join(ROOT, 'test', 'fixtures', 'infinity', 'infinity-A', 'image.png'), image);
    fs.writeFileSync(path.join(folder, 'a.txt'), `${c.prompt}\n`);
    const r = await engine.evaluateFolder({ model: bundleDir, runId: 'prompt-folder', folder, labels: { kind: 'captions' } });
    assert.ok(r.family === 'infinity');
    assert.deepStrictEqual(r.failed, []);
    assert.strictEqual(r.perImage[0].caption, `prompt: ${c.prompt.trim()}`);
    const one = await engine.evaluateBits({ model: bundleDir, image: { path: image }, text: { prompt: c.prompt.trim() } });
    assert.deepStrictEqual(
      r.perImage[0].scales,
      one.scales.map((s) => ({ bitAccuracy: s.bitAccuracy, tokenAccuracy: s.tokenAccuracy })),
    );
  });

  it('varscope inspect --prompt prints what --text-features prints for its features; both at once are refused', () => {
    const c = expected[0];
    const image = path.join(ROOT, 'test', 'fixtures', 'infinity', 'infinity-A', 'image.png');
    const run = (caption: string[]) => runCli(['inspect', image, '--model', bundleDir, '--provider', 'cpu', ...caption]);
    const byPrompt = run(['--prompt', c.prompt]);
    assert.strictEqual(byPrompt.code, 0, byPrompt.stderr);
    const byFile = run(['--text-features', path.join(tmp, c.features as string)]);
    assert.strictEqual(byFile.code, 0, byFile.stderr);
    assert.strictEqual(JSON.parse(byPrompt.stdout).teacherForced.captionTokens, c.ids.length);
    assert.deepStrictEqual(JSON.parse(byPrompt.stdout).teacherForced, JSON.parse(byFile.stdout).teacherForced);
    const both = run(['--prompt', c.prompt, '--text-features', path.join(tmp, c.features as string)]);
    assert.strictEqual(both.code, 2);
    assert.strictEqual(both.stderr, 'varscope inspect: give the caption as --text-features or as --prompt, not both\n');
  });

  it('generate with a prompt gives the bits of generate with its features file (engine and `varscope generate --prompt`)', async () => {
    const c = expected[0];
    const settings = (text: { prompt: string } | { featuresFile: string }) => ({
      family: 'infinity' as const,
      text,
      seed: 3,
      cfgList: [1, 1.5, 2, 2.5, 3, 3, 3],
      tauList: [1, 1, 1, 1, 1, 1, 1],
      topK: 0,
      topP: 0,
    });
    const file = path.join(tmp, c.features as string);
    const byPrompt = await engine.generate({ model: bundleDir, settings: settings({ prompt: c.prompt }) });
    const byFile = await engine.generate({ model: bundleDir, settings: settings({ featuresFile: file }) });
    assert.deepStrictEqual(byPrompt.bits, byFile.bits);
    const run = (caption: string[]) =>
      runCli(['generate', '--model', bundleDir, '--provider', 'cpu', '--seed', '3', '--cfg', '3', ...caption]);
    const cli = run(['--prompt', c.prompt]);
    assert.strictEqual(cli.code, 0, cli.stderr);
    assert.deepStrictEqual(JSON.parse(cli.stdout).scales, JSON.parse(run(['--text-features', file]).stdout).scales);
  });

  it('a prompt for a bundle without a text encoder is refused in one line', async () => {
    const plain = requireBundle(path.join(ROOT, 'out', 'bundles', 'infinity-A'));
    const image = { path: path.join(ROOT, 'test', 'fixtures', 'infinity', 'infinity-A', 'image.png') };
    await assert.rejects(
      engine.evaluateBits({ model: plain, image, text: { prompt: 'a cat' } }),
      (e: unknown) =>
        e instanceof VarScopeError &&
        e.code === 'BadRequest' &&
        !e.message.includes('\n') &&
        e.message.startsWith(`${plain} has no text encoder: add one with \`python -m varscope.infinity.text_encoder --t5 T5_DIR`),
    );
  });
});
