/**
 * Bundle loading and validation: every broken model gets a ModelNotFound / ModelLoad error naming the file and
 * what is wrong. Broken bundles are made from the fixture bundle in a temp folder (graphs referenced, not copied).
 */
import * as assert from 'assert';
import { createHash } from 'crypto';
import * as fs from 'fs';
import * as os from 'os';
import * as path from 'path';
import { Engine } from '../../../../src/engine/engine';
import type { BundleManifest } from '../../../../src/shared/manifest';
import { VarScopeError } from '../../../../src/shared/errors';
import { fixture, requireBundle } from '../../fixtures';
import { varModelOf } from '../../../../src/shared/modelFamily';

type Edit = (m: BundleManifest, dir: string) => void;

describe('bundle validation', function () {
  this.timeout(120000);
  let src: string;
  let tmp: string;
  let engine: Engine;
  let n = 0;

  before(async () => {
    src = requireBundle();
    tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'varscope-bundle-'));
    engine = new Engine();
    await engine.configure({ provider: 'cpu', threads: 0, maxImagePixels: 1e8 });
  });
  after(async () => {
    await engine?.dispose();
    if (tmp) fs.rmSync(tmp, { recursive: true, force: true });
  });

  /** A bundle folder whose manifest is the fixture's, edited; every file path points back at the fixture bundle. */
  function variant(edit: Edit): string {
    const dir = path.join(tmp, `b${n++}`);
    fs.mkdirSync(dir);
    const m = JSON.parse(fs.readFileSync(path.join(src, 'varscope.json'), 'utf8')) as BundleManifest;
    for (const g of Object.values(m.graphs)) g.file = path.relative(dir, path.join(src, g.file));
    m.codebook.file = path.relative(dir, path.join(src, m.codebook.file));
    if (m.trainingHits) m.trainingHits.file = path.relative(dir, path.join(src, m.trainingHits.file));
    m.files = Object.fromEntries(Object.entries(m.files).map(([f, h]) => [path.relative(dir, path.join(src, f)), h]));
    edit(m, dir);
    // Files an edit wrote into the variant get their hashes recorded, as an export would (the checks under test
    // come after the hash verification).
    for (const f of [...Object.values(m.graphs).map((g) => g.file), m.codebook.file]) {
      if (fs.existsSync(path.join(dir, f)))
        m.files[f] = {
          sha256: createHash('sha256')
            .update(fs.readFileSync(path.join(dir, f)))
            .digest('hex'),
          bytes: fs.statSync(path.join(dir, f)).size,
        };
    }
    fs.writeFileSync(path.join(dir, 'varscope.json'), JSON.stringify(m));
    return dir;
  }

  async function rejects(dir: string, code: string, pattern: RegExp): Promise<void> {
    await assert.rejects(engine.openModel({ model: dir }), (e: unknown) => {
      assert.ok(e instanceof VarScopeError, String(e));
      assert.strictEqual(e.code, code, e.message);
      assert.match(e.message, pattern);
      return true;
    });
  }

  it('graphs shared through "../other-bundle/x.onnx" paths load and run', async () => {
    const dir = variant(() => undefined);
    assert.ok(JSON.parse(fs.readFileSync(path.join(dir, 'varscope.json'), 'utf8')).graphs.encoder.file.startsWith('..'));
    const info = varModelOf(await engine.openModel({ model: dir }), 'test');
    assert.strictEqual(info.vocabSize, 512);
    const r = await engine.inspect({ model: dir, image: { path: fixture('img0.png') } });
    assert.strictEqual(r.scales.length, 10);
  });

  it('missing folder / varscope.json -> ModelNotFound', async () => {
    await rejects(path.join(tmp, 'nothing-here'), 'ModelNotFound', /varscope\.json not found/);
  });

  it('varscope.json that is not JSON -> ModelLoad naming the file', async () => {
    const dir = path.join(tmp, 'notjson');
    fs.mkdirSync(dir);
    fs.writeFileSync(path.join(dir, 'varscope.json'), '{ "format": ');
    await rejects(dir, 'ModelLoad', /varscope\.json: not valid JSON/);
  });

  it('wrong manifest: beginEnds that do not follow from patchNums', async () => {
    await rejects(
      variant((m) => (m.beginEnds[1] = [1, 6])),
      'ModelLoad',
      /varscope\.json: beginEnds .* do not follow from patchNums/,
    );
  });

  it('wrong manifest: another format / version', async () => {
    await rejects(
      variant((m) => ((m as unknown as { format: string }).format = 'something-else')),
      'ModelLoad',
      /format is "something-else"/,
    );
    await rejects(
      variant((m) => (m.version = 99)),
      'ModelLoad',
      /version is 99/,
    );
  });

  it('missing graph file -> ModelLoad naming the role and path', async () => {
    await rejects(
      variant((m) => (m.graphs.decoder.file = 'gone.onnx')),
      'ModelLoad',
      /graph file of "decoder" not found: .*gone\.onnx/,
    );
  });

  it('corrupt ONNX -> ModelLoad naming the file', async () => {
    const dir = variant((m, d) => {
      fs.writeFileSync(path.join(d, 'decoder.onnx'), Buffer.from('this is not a protobuf at all'));
      m.graphs.decoder.file = 'decoder.onnx';
    });
    await rejects(dir, 'ModelLoad', /decoder\.onnx is not a valid ONNX graph/);
  });

  it('mismatched graphs: the decoder file in the encoder role', async () => {
    await rejects(
      variant((m) => (m.graphs.encoder.file = m.graphs.decoder.file)),
      'ModelLoad',
      /\(encoder\) does not match varscope\.json: input "image" declared in varscope\.json is not in the graph/,
    );
  });

  it('mismatched shapes: a vocabulary the graphs do not have', async () => {
    const dir = variant((m, d) => {
      m.vae.vocabSize = 256;
      m.codebook = { file: 'codebook.bin', dtype: 'float32', dims: [256, m.vae.Cvae] };
      fs.writeFileSync(path.join(d, 'codebook.bin'), Buffer.alloc(256 * m.vae.Cvae * 4));
      delete m.trainingHits;
      for (const g of [m.graphs.transformer, m.graphs.transformerStep]) g.outputs.logits.dims[2] = 256;
    });
    // latentStep's embedding [V, C] now names the same mismatch (graphs open together: either message may come first)
    await rejects(
      dir,
      'ModelLoad',
      /(transformer|transformerStep)\) does not match varscope\.json: output "logits" dim 2 is 512 in the graph, the model needs 256|latentStep\) does not match varscope\.json: vae\.vocabSize codes of vae\.Cvae: the graph's embedding\.weight is \[512,16\], varscope\.json implies \[256,16\]/,
    );
  });

  it('codebook file of the wrong size -> ModelLoad', async () => {
    const dir = variant((m, d) => {
      fs.writeFileSync(path.join(d, 'codebook.bin'), Buffer.alloc(100));
      m.codebook.file = 'codebook.bin';
    });
    await rejects(dir, 'ModelLoad', /codebook\.bin: 100 bytes/);
  });
});
