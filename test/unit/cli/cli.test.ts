/**
 * The CLI end to end (bin/varscope.js on out/src/cli/main.js, the code webpack bundles into dist/cli.js): JSON results that
 * agree with the reference fixtures, exit codes and messages a shell user expects.
 */
import * as assert from 'assert';
import * as fs from 'fs';
import * as os from 'os';
import * as path from 'path';
import sharp from 'sharp';
import { defaultModelImages, fixture, FIXTURES, requireBundle, ROOT, runCli } from '../fixtures';
import { infinityBundle, infinityFixture, writeFixtureCaption } from '../infinityFixtures';
import { npyFloats, npyInts, readNpy } from '../npy';

const cli = runCli;

describe('CLI', function () {
  this.timeout(300000);
  let model: string;
  let tmp: string;
  before(() => {
    model = requireBundle();
    tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'varscope-cli-'));
  });
  after(() => tmp && fs.rmSync(tmp, { recursive: true, force: true }));

  it('inspect writes the reference tokens of every scale and per-scale numbers', () => {
    const out = path.join(tmp, 'inspect.json');
    const r = cli(['inspect', fixture('img0.png'), '--model', model, '--json', out, '--provider', 'cpu']);
    assert.strictEqual(r.code, 0, r.stderr);
    const j = JSON.parse(fs.readFileSync(out, 'utf8'));
    assert.strictEqual(j.model.vocabSize, 512);
    assert.deepStrictEqual(j.model.patchNums, [1, 2, 3, 4, 5, 6, 8, 10, 13, 16]);
    const idx = npyInts(readNpy(fixture('img0_idx.npy')));
    assert.deepStrictEqual(
      j.scales.flatMap((s: { tokens: number[] }) => s.tokens),
      Array.from(idx),
    );
    // residual energy from the reference f and fHat
    const f = npyFloats(readNpy(fixture('img0_f.npy')));
    const fh = npyFloats(readNpy(fixture('img0_fhat.npy')));
    const ef = f.reduce((s, v) => s + v * v, 0);
    j.scales.forEach((s: { residualEnergy: number; psnr: number }, k: number) => {
      let e = 0;
      for (let i = 0; i < f.length; i++) e += (f[i] - fh[k * f.length + i]) ** 2;
      assert.ok(Math.abs(s.residualEnergy - e / ef) < 1e-4, `scale ${k}: ${s.residualEnergy} vs ${e / ef}`);
      assert.ok(s.psnr > 0 && s.psnr < 100);
    });
    assert.ok(j.codebook.used > 0 && j.codebook.perplexity > 1);
  });

  it('eval reports per-scale accuracy and NLL from the teacher-forced logits', () => {
    const r = cli(['eval', fixture('img1.png'), '--model', model, '--class', '3', '--json', '-', '--provider', 'cpu']);
    assert.strictEqual(r.code, 0, r.stderr);
    const j = JSON.parse(r.stdout);
    const logits = npyFloats(readNpy(fixture('img1_logits_c3.npy')));
    const idx = npyInts(readNpy(fixture('img1_idx.npy')));
    const V = 512;
    // scale 1 (positions 1..4) by hand from the reference logits
    let nll = 0;
    let correct = 0;
    for (let i = 1; i < 5; i++) {
      const row = Array.from(logits.subarray(i * V, (i + 1) * V));
      const mx = Math.max(...row);
      const lse = mx + Math.log(row.reduce((s, v) => s + Math.exp(v - mx), 0));
      nll += (lse - row[idx[i]]) / 4;
      if (row.indexOf(mx) === idx[i]) correct++;
    }
    assert.strictEqual(j.scales[1].pn, 2);
    assert.ok(Math.abs(j.scales[1].nll - nll) < 1e-4);
    assert.strictEqual(j.scales[1].accuracy, correct / 4);
  });

  it('generate: same seed, same tokens; writes the PNG', async () => {
    const args = [
      'generate',
      '--model',
      model,
      '--class',
      '5',
      '--seed',
      '123',
      '--cfg',
      '3',
      '--top-k',
      '50',
      '--top-p',
      '0.9',
      '--provider',
      'cpu',
    ];
    const a = cli([...args, '--out', path.join(tmp, 'a.png'), '--json', path.join(tmp, 'a.json')]);
    assert.strictEqual(a.code, 0, a.stderr);
    const b = cli([...args, '--json', '-']);
    assert.strictEqual(b.code, 0, b.stderr);
    const ja = JSON.parse(fs.readFileSync(path.join(tmp, 'a.json'), 'utf8'));
    const jb = JSON.parse(b.stdout);
    assert.deepStrictEqual(ja.scales, jb.scales);
    assert.deepStrictEqual(
      ja.scales.map((s: { tokens: number[] }) => s.tokens.length),
      [1, 4, 9, 16, 25, 36, 64, 100, 169, 256],
    );
    const meta = await sharp(path.join(tmp, 'a.png')).metadata();
    assert.deepStrictEqual([meta.width, meta.height], [256, 256]);
  });

  it("generate: sampling flags left out take the model's recommended sampling", () => {
    const def = path.join(ROOT, 'models', 'emoji64-d4');
    const recommended = (
      JSON.parse(fs.readFileSync(path.join(def, 'varscope.json'), 'utf8')) as { sampling: { cfg: number; topK: number; topP: number } }
    ).sampling;
    assert.deepStrictEqual(recommended, { cfg: 3.5, topK: 100, topP: 0.95 });
    const run = (extra: string[]) => {
      const r = cli(['generate', '--model', def, '--class', '8', '--seed', '4', '--provider', 'cpu', '--json', '-', ...extra]);
      assert.strictEqual(r.code, 0, r.stderr);
      return JSON.parse(r.stdout) as { settings: Record<string, number>; scales: Array<{ tokens: number[] }> };
    };
    const implicit = run([]);
    assert.deepStrictEqual(implicit.settings, { classId: 8, seed: 4, ...recommended });
    assert.deepStrictEqual(implicit.scales, run(['--cfg', '3.5', '--top-k', '100', '--top-p', '0.95']).scales);
    const topKOnly = run(['--top-k', '7']);
    assert.deepStrictEqual(topKOnly.settings, { classId: 8, seed: 4, ...recommended, topK: 7 });
    assert.notDeepStrictEqual(topKOnly.scales, implicit.scales);
  });

  it('evaluate writes the evaluation as JSON and the per-scale and per-image CSV; --class and --labels-from-subfolders exclude each other', () => {
    const dir = path.join(tmp, 'classes');
    const def = path.join(ROOT, 'models', 'emoji64-d4');
    const images = defaultModelImages();
    images.forEach((img, i) => {
      fs.mkdirSync(path.join(dir, img.className), { recursive: true });
      fs.copyFileSync(img.path, path.join(dir, img.className, `${'ab'[i]}.png`));
    });
    const json = path.join(tmp, 'ev', 'ev.json');
    const csv = path.join(tmp, 'ev', 'ev.csv');
    const imagesCsv = path.join(tmp, 'ev', 'images.csv');
    const r = cli([
      'evaluate',
      dir,
      '--model',
      def,
      '--labels-from-subfolders',
      '--json',
      json,
      '--csv',
      csv,
      '--images-csv',
      imagesCsv,
      '--provider',
      'cpu',
    ]);
    assert.strictEqual(r.code, 0, r.stderr);
    const ev = JSON.parse(fs.readFileSync(json, 'utf8'));
    assert.strictEqual(ev.format, 'varscope-evaluation');
    assert.strictEqual(ev.images, 2);
    assert.deepStrictEqual(
      ev.perClass.map((c: { classId: number }) => c.classId),
      images.map((i) => i.classId).sort((a, b) => a - b),
    );
    const rows = fs.readFileSync(csv, 'utf8').trim().split('\n');
    assert.strictEqual(rows.length, 11);
    assert.match(rows[0], /^scale,pn,tokens,accuracy,top5,nll,/);
    const first = rows[1].split(',');
    assert.strictEqual(Number(first[3]), Number(ev.scales[0].accuracy.toPrecision(7)));
    assert.strictEqual(fs.readFileSync(imagesCsv, 'utf8').trim().split('\n').length, 3);
    assert.deepStrictEqual(fs.readdirSync(path.join(tmp, 'ev')).sort(), ['ev.csv', 'ev.json', 'images.csv']); // no temp files left
    // class sub-folders without --labels-from-subfolders: a consistency warning in the JSON and on stderr
    const unlabelled = cli(['evaluate', dir, '--model', def, '--limit', '1', '--provider', 'cpu', '--json', '-']);
    assert.strictEqual(unlabelled.code, 0, unlabelled.stderr);
    assert.deepStrictEqual(
      JSON.parse(unlabelled.stdout).warnings.map((w: { check: string; model: string; given: string }) => [w.check, w.model, w.given]),
      [['labelsUnused', '11 classes', '2 sub-folders named as its classes']],
    );
    assert.match(
      unlabelled.stderr,
      /^varscope evaluate: warning: the model has 11 classes and the folder 2 sub-folders named as its classes, but no labels were asked for: every image is scored with the null class; .*\n$/,
    );
    const both = cli(['evaluate', dir, '--model', def, '--labels-from-subfolders', '--class', '1']);
    assert.strictEqual(both.code, 2);
    assert.match(both.stderr, /exclude each other/);
  });

  it('stats over a folder (recursive) counts every image and lists unreadable files', () => {
    const dir = path.join(tmp, 'imgs');
    fs.mkdirSync(path.join(dir, 'sub'), { recursive: true });
    fs.copyFileSync(fixture('img0.png'), path.join(dir, 'a.png'));
    fs.copyFileSync(fixture('img1.png'), path.join(dir, 'sub', 'b.png'));
    fs.writeFileSync(path.join(dir, 'broken.png'), 'not a png');
    const r = cli(['stats', dir, '--model', model, '--json', '-', '--provider', 'cpu']);
    assert.strictEqual(r.code, 0, r.stderr);
    const j = JSON.parse(r.stdout);
    assert.strictEqual(j.images, 2);
    assert.strictEqual(j.failed.length, 1);
    assert.match(j.failed[0].file, /broken\.png$/);
    const expected = new Array(512).fill(0);
    for (const i of [0, 1]) for (const v of npyInts(readNpy(fixture(`img${i}_idx.npy`)))) expected[v]++;
    assert.deepStrictEqual(j.overall, expected);
    assert.strictEqual(j.used + j.dead, 512);
  });

  it('export runs the Python exporter with its own flags (help, and its usage error code)', () => {
    const help = cli(['export', '--help']);
    assert.strictEqual(help.code, 0, help.stderr);
    assert.match(help.stdout, /--vae/);
    const bad = cli(['export', '--vae', 'x.pth']);
    assert.strictEqual(bad.code, 2);
    assert.match(bad.stderr, /--var/);
  });

  it('exit codes: 2 for usage errors (with help), 1 for a bad image or model, 0 for --help', () => {
    const none = cli([]);
    assert.strictEqual(none.code, 2);
    assert.match(none.stdout, /usage: varscope COMMAND/);
    const unknown = cli(['frobnicate']);
    assert.strictEqual(unknown.code, 2);
    assert.match(unknown.stderr, /unknown command "frobnicate"/);
    const missing = cli(['eval', fixture('img0.png'), '--model', model]);
    assert.strictEqual(missing.code, 2);
    assert.match(missing.stderr, /--class is required/);
    const help = cli(['generate', '--help']);
    assert.strictEqual(help.code, 0);
    assert.match(help.stdout, /--top-p/);
    fs.writeFileSync(path.join(tmp, 'bad.png'), '');
    const bad = cli(['inspect', path.join(tmp, 'bad.png'), '--model', model, '--provider', 'cpu']);
    assert.strictEqual(bad.code, 1);
    assert.match(bad.stderr, /empty \(0 bytes\)/);
    const nomodel = cli(['inspect', fixture('img0.png'), '--model', path.join(tmp, 'nope')]);
    assert.strictEqual(nomodel.code, 1);
    assert.match(nomodel.stderr, /no model bundle/);
  });
});

describe('CLI on an Infinity bundle', function () {
  this.timeout(300000);
  let tmp: string;
  const fx = (f: string) => infinityFixture('infinity-A', f);
  before(() => (tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'varscope-cli-infinity-'))));
  after(() => tmp && fs.rmSync(tmp, { recursive: true, force: true }));

  it('inspect prints the official bits of every scale and, with --text-features, the teacher-forced accuracies', () => {
    const model = infinityBundle('infinity-A');
    const features = writeFixtureCaption('infinity-A', 0, tmp).file;
    const r = cli(['inspect', fx('image.png'), '--model', model, '--ratio', '1', '--text-features', features, '--provider', 'cpu']);
    assert.strictEqual(r.code, 0, r.stderr);
    const j = JSON.parse(r.stdout);
    assert.strictEqual(j.model.family, 'infinity');
    assert.strictEqual(j.schedule, 'hw1.000-0.06M');
    const bits = readNpy(fx('tok_bits.npy')).data as Uint8Array;
    const d = 16;
    const printed = j.scales.flatMap((s: { bits: string[] }) => s.bits);
    assert.deepStrictEqual(
      printed,
      Array.from({ length: bits.length / d }, (_, t) => bits.subarray(t * d, (t + 1) * d).join('')),
    );
    // overall bit accuracy of caption 0 from the official logits (batch row 0 of tf_logits_fp32ca)
    const logits = npyFloats(readNpy(fx('tf_logits_fp32ca.npy')));
    let right = 0;
    for (let i = 0; i < bits.length; i++) right += (logits[2 * i + 1] > logits[2 * i] ? 1 : 0) === bits[i] ? 1 : 0;
    assert.strictEqual(j.teacherForced.overall.bitAccuracy, right / bits.length);
    assert.strictEqual(j.teacherForced.scales.length, 7);
    assert.strictEqual(j.teacherForced.scales[0].copyCoarserBaseline, null);
  });

  it("generate: the fixture's greedy settings (--cfg-list, --tau-list, --top-k 1) print gen_bits (1 bit flipped by float32 text attention) and write the PNG", async () => {
    const model = infinityBundle('infinity-A');
    const features = writeFixtureCaption('infinity-A', 0, tmp).file;
    const png = path.join(tmp, 'gen.png');
    const r = cli([
      'generate',
      '--model',
      model,
      '--text-features',
      features,
      '--cfg-list',
      '1,1.5,2,2.5,3,3,3',
      '--tau-list',
      '1,1,1,1,1,1,1',
      '--top-k',
      '1',
      '--top-p',
      '0',
      '--out',
      png,
      '--provider',
      'cpu',
    ]);
    assert.strictEqual(r.code, 0, r.stderr);
    const j = JSON.parse(r.stdout);
    assert.strictEqual(j.schedule, 'hw1.000-0.06M');
    assert.deepStrictEqual(j.settings.cfgList, [1, 1.5, 2, 2.5, 3, 3, 3]);
    assert.strictEqual(j.settings.cfgInsertionLayer, 0);
    const want = readNpy(fx('gen_bits.npy')).data as Uint8Array;
    const printed = j.scales.flatMap((s: { bits: string[] }) => s.bits).join('');
    assert.strictEqual(printed.length, want.length);
    let differ = 0;
    for (let i = 0; i < want.length; i++) differ += Number(printed[i]) === want[i] ? 0 : 1;
    assert.strictEqual(differ, 1);
    const meta = await sharp(png).metadata();
    assert.deepStrictEqual([meta.width, meta.height], [256, 256]);
    // --cfg sets every scale; the model's tau, top-k and top-p fill the rest; a seed repeats its image
    const seeded = (seed: string) =>
      cli(['generate', '--model', model, '--text-features', features, '--cfg', '3', '--seed', seed, '--provider', 'cpu']);
    const a = JSON.parse(seeded('4').stdout);
    assert.deepStrictEqual(a.settings.cfgList, [3, 3, 3, 3, 3, 3, 3]);
    assert.deepStrictEqual(a.settings.tauList, [0.5, 0.5, 0.5, 0.5, 0.5, 0.5, 0.5]);
    assert.deepStrictEqual(a.scales, JSON.parse(seeded('4').stdout).scales);
    assert.notDeepStrictEqual(a.scales, JSON.parse(seeded('5').stdout).scales);
  });

  it("generate: VAR's flags on an Infinity bundle, Infinity's on a VAR bundle, a missing caption or a wrong list fail in one line", () => {
    const infinity = infinityBundle('infinity-A');
    const features = fx('text_kv_compact.npy');
    const cases: Array<[string[], number, RegExp]> = [
      [
        ['--model', infinity, '--class', '1', '--text-features', features],
        2,
        /--class is for VAR models; .*infinity-A is an Infinity bundle/,
      ],
      [['--model', infinity], 2, /an Infinity model needs one caption: --text-features FILE or --prompt TEXT/],
      [['--model', infinity, '--text-features', features, '--cfg', '2', '--cfg-list', '1,2'], 2, /give --cfg or --cfg-list, not both/],
      [['--model', infinity, '--text-features', features, '--cfg-list', '1,,2'], 2, /--cfg-list must be numbers separated by commas/],
      [['--model', infinity, '--text-features', features, '--cfg-list', '1,2'], 1, /cfgList has 2 values, the schedule has 7 scales/],
      [['--model', requireBundle(), '--class', '1', '--cfg-list', '1,2'], 2, /--cfg-list is for Infinity models; .* is a VAR bundle/],
      [['--model', requireBundle()], 2, /--class is required/],
    ];
    for (const [args, code, want] of cases) {
      const r = cli(['generate', ...args, '--provider', 'cpu']);
      assert.strictEqual(r.code, code, `${args.join(' ')}: ${r.stderr}`);
      assert.match(r.stderr.split('\n')[0], want);
    }
  });

  it('eval gives the teacher-forced accuracies of inspect --text-features; evaluate over a folder of captioned images says the family in JSON and CSV, and its 2 shards merge into the one run', () => {
    const model = infinityBundle('infinity-A');
    const images = path.join(tmp, 'captioned');
    fs.mkdirSync(images, { recursive: true });
    ['a', 'b'].forEach((name, caption) => {
      fs.copyFileSync(fx('image.png'), path.join(images, `${name}.png`));
      writeFixtureCaption('infinity-A', caption, images, `${name}.npy`);
    });
    const onB = (command: 'inspect' | 'eval') =>
      cli([command, path.join(images, 'b.png'), '--model', model, '--text-features', path.join(images, 'b.npy'), '--provider', 'cpu']);
    const inspected = onB('inspect');
    assert.strictEqual(inspected.code, 0, inspected.stderr);
    const evaluated = onB('eval');
    assert.strictEqual(evaluated.code, 0, evaluated.stderr);
    const e = JSON.parse(evaluated.stdout);
    assert.strictEqual(e.family, 'infinity');
    assert.strictEqual(e.captionTokens, 13);
    assert.deepStrictEqual(e.scales, JSON.parse(inspected.stdout).teacherForced.scales);
    const csv = path.join(tmp, 'scales.csv');
    const imagesCsv = path.join(tmp, 'images.csv');
    const one = cli(['evaluate', images, '--model', model, '--csv', csv, '--images-csv', imagesCsv, '--provider', 'cpu']);
    assert.strictEqual(one.code, 0, one.stderr);
    const r = JSON.parse(one.stdout);
    assert.strictEqual(r.family, 'infinity');
    assert.strictEqual(r.images, 2);
    assert.deepStrictEqual(r.labels, { kind: 'captions' });
    assert.deepStrictEqual(
      r.perImage[1].scales,
      e.scales.map((s: { bitAccuracy: number; tokenAccuracy: number }) => ({ bitAccuracy: s.bitAccuracy, tokenAccuracy: s.tokenAccuracy })),
    );
    const rows = fs.readFileSync(csv, 'utf8').trim().split('\n');
    assert.strictEqual(
      rows[0],
      'family,scale,tokens,bit_accuracy,token_accuracy,majority_bit_accuracy,majority_token_accuracy,copy_coarser_bit_accuracy,copy_coarser_token_accuracy',
    );
    assert.strictEqual(rows.length, 8);
    assert.match(rows[1], /^infinity,0,2,/);
    assert.match(fs.readFileSync(imagesCsv, 'utf8'), /^family,file,schedule,caption,bit_accuracy,token_accuracy,bit_accuracy_0,/);
    const parts = [0, 1].map((k) => {
      const out = path.join(tmp, `part${k}.json`);
      const p = cli(['evaluate', images, '--model', model, '--shard', `${k}/2`, '--json', out, '--provider', 'cpu']);
      assert.strictEqual(p.code, 0, p.stderr);
      return out;
    });
    const merged = cli(['merge', ...parts]);
    assert.strictEqual(merged.code, 0, merged.stderr);
    const m = JSON.parse(merged.stdout);
    assert.deepStrictEqual({ ...m, elapsedMs: 0 }, { ...r, elapsedMs: 0 });
  });

  it('export --infinity writes the bundle of an Infinity pair (varscope.infinity.export), which inspect opens; a VAR checkpoint given as Infinity or the reverse fails in one line', () => {
    const out = path.join(tmp, 'exported');
    const py = ['--python', '/usr/bin/python3'];
    const r = cli(['export', ...py, '--vae', fx('vae.pth'), '--infinity', fx('infinity.pth'), '--out', out, '--id', 'a']);
    assert.strictEqual(r.code, 0, r.stderr);
    const inspected = cli(['inspect', fx('image.png'), '--model', out, '--provider', 'cpu']);
    assert.strictEqual(inspected.code, 0, inspected.stderr);
    const d = 16;
    const bits = readNpy(fx('tok_bits.npy')).data as Uint8Array;
    assert.deepStrictEqual(
      JSON.parse(inspected.stdout).scales.flatMap((s: { bits: string[] }) => s.bits),
      Array.from({ length: bits.length / d }, (_, t) => bits.subarray(t * d, (t + 1) * d).join('')),
    );
    const var_ = path.join(FIXTURES, 'var.pth');
    const varAsInfinity = cli(['export', ...py, '--vae', fx('vae.pth'), '--infinity', var_, '--out', path.join(tmp, 'x1')]);
    assert.notStrictEqual(varAsInfinity.code, 0);
    assert.match(
      varAsInfinity.stderr,
      /var\.pth: a VAR checkpoint, not an Infinity checkpoint: export it as VAR \(varscope export --vae VAE --var VAR\)\n$/,
    );
    const infinityAsVar = cli([
      'export',
      ...py,
      '--vae',
      path.join(FIXTURES, 'vae.pth'),
      '--var',
      fx('infinity.pth'),
      '--out',
      path.join(tmp, 'x2'),
    ]);
    assert.notStrictEqual(infinityAsVar.code, 0);
    assert.match(
      infinityAsVar.stderr,
      /infinity\.pth: an Infinity checkpoint \(its transformer\), not VAR: export it as Infinity \(varscope export --vae BSQ_VAE --infinity INFINITY\)\n$/,
    );
  });

  it("stats on an Infinity bundle prints each scale's bit usage: the official bits' ones, balance, entropy and different codes", () => {
    const model = infinityBundle('infinity-A');
    const dir = path.join(tmp, 'imgs');
    fs.mkdirSync(dir, { recursive: true });
    fs.copyFileSync(fx('image.png'), path.join(dir, 'a.png'));
    const r = cli(['stats', dir, '--model', model, '--json', '-', '--provider', 'cpu']);
    assert.strictEqual(r.code, 0, r.stderr);
    const j = JSON.parse(r.stdout);
    assert.deepStrictEqual(
      [j.images, j.bits, j.schedules, j.tokens, j.distinct, j.distinctCapped],
      [1, 16, ['hw1.000-0.06M'], 521, 505, false],
    );
    assert.ok(!r.stderr.includes('lower bounds'), r.stderr); // every different code kept: exact counts
    const bits = readNpy(fx('tok_bits.npy')).data as Uint8Array;
    const d = 16;
    const ones = new Array(d).fill(0);
    for (let t = 521 - 256; t < 521; t++) for (let i = 0; i < d; i++) ones[i] += bits[t * d + i]; // the 16×16 scale
    const last = j.perScale[6];
    assert.deepStrictEqual([last.tokens, last.distinct, last.distinctCapped, last.ones], [256, 249, false, ones]);
    assert.deepStrictEqual(
      last.balance,
      ones.map((n) => n / 256),
    );
  });

  it('Infinity flags on a VAR bundle, a VAR command on an Infinity bundle and wrong features fail in one line', () => {
    const infinity = infinityBundle('infinity-A');
    const onVar = cli(['inspect', fx('image.png'), '--model', requireBundle(), '--ratio', '1']);
    assert.strictEqual(onVar.code, 2);
    assert.match(onVar.stderr, /^varscope inspect: --ratio is for Infinity models; .* is a VAR bundle\n$/);
    const evalOnInfinity = cli(['eval', fx('image.png'), '--model', infinity, '--class', '1', '--provider', 'cpu']);
    assert.strictEqual(evalOnInfinity.code, 2);
    assert.match(
      evalOnInfinity.stderr,
      /^varscope eval: --class is for VAR models; .*infinity-A is an Infinity bundle \(give --text-features or --prompt\)\n$/,
    );
    const noCaption = cli(['eval', fx('image.png'), '--model', infinity, '--provider', 'cpu']);
    assert.strictEqual(noCaption.code, 2);
    assert.match(
      noCaption.stderr,
      /^varscope eval: an Infinity model is evaluated for a caption: give --text-features FILE or --prompt TEXT\n$/,
    );
    const prompt = cli(['eval', fx('image.png'), '--model', infinity, '--prompt', 'a cat', '--provider', 'cpu']);
    assert.strictEqual(prompt.code, 1);
    assert.match(prompt.stderr, /^varscope eval: .*infinity-A has no text encoder: add one with .*\n$/);
    const classesOnInfinity = cli(['evaluate', tmp, '--model', infinity, '--labels-from-subfolders', '--provider', 'cpu']);
    assert.strictEqual(classesOnInfinity.code, 2);
    assert.match(
      classesOnInfinity.stderr,
      /^varscope evaluate: --labels-from-subfolders is for VAR models: an Infinity model's images are labelled with captions/,
    );
    const timeline = cli(['timeline', tmp, '--models', infinity, '--provider', 'cpu']);
    assert.strictEqual(timeline.code, 1);
    assert.match(timeline.stderr, /^varscope timeline: .*infinity-A is an Infinity bundle: timeline works on VAR checkpoints/);
    const captionsOnVar = cli(['evaluate', tmp, '--model', requireBundle(), '--captions', 'c.jsonl', '--provider', 'cpu']);
    assert.strictEqual(captionsOnVar.code, 2);
    assert.match(captionsOnVar.stderr, /^varscope evaluate: --captions is for Infinity models: a VAR model takes classes\n$/);
    const wrongWidth = cli([
      'inspect',
      fx('image.png'),
      '--model',
      infinity,
      '--text-features',
      infinityFixture('infinity-B', 'text_kv_compact.npy'),
    ]);
    assert.strictEqual(wrongWidth.code, 1);
    assert.match(
      wrongWidth.stderr,
      /text_kv_compact\.npy: shape \[20,256\] \(text features: \[N, 128\] float32, \.npy or \.safetensors\)\n$/,
    );
  });
});
