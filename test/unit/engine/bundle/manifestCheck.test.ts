/**
 * Bad bundles and inputs at the engine layer, each on a damaged copy of the fixture bundle made in the test:
 * inputs that would hang the engine (devices, NaN in tensors, a stuck engine), files that differ from the sha256
 * recorded at export (and the cache that makes a second open free), manifest facts that disagree with the graphs,
 * bundles of the older format, and bundles of another model family (Infinity).
 */
import * as assert from 'assert';
import { createHash } from 'crypto';
import * as fs from 'fs';
import * as os from 'os';
import * as path from 'path';
import { verifyBundleFiles } from '../../../../src/engine/bundle/bundleVerify';
import { weightedRanks } from '../../../../src/engine/bundle/codeColors';
import { Engine } from '../../../../src/engine/engine';
import { EngineClient } from '../../../../src/client/engineClient';
import { ModelBundle } from '../../../../src/engine/bundle/bundle';
import { checkManifest, GRAPH_SPEC, INFINITY_NOT_VAR, manifestFacts, resolveDim } from '../../../../src/engine/bundle/manifestCheck';
import { readInitializers } from '../../../../src/engine/bundle/onnxInitializers';
import type { OnnxRuntime } from '../../../../src/engine/runtime/onnxRuntime';
import type { BundleManifest } from '../../../../src/shared/manifest';
import { VarScopeError } from '../../../../src/shared/errors';
import { loadRefusal, requireBundle, ROOT } from '../../fixtures';

/** Resolves with the promise's error (a failure when it resolves), or fails after `ms` (the engine hung). */
async function failsWithin(p: Promise<unknown>, ms: number): Promise<VarScopeError> {
  let timer: NodeJS.Timeout | undefined;
  const hang = new Promise<never>((_, reject) => (timer = setTimeout(() => reject(new Error(`still running after ${ms} ms`)), ms)));
  try {
    await Promise.race([p, hang]);
  } catch (e) {
    if (e instanceof VarScopeError) return e;
    throw e;
  } finally {
    clearTimeout(timer);
  }
  throw new Error('expected an error, the request succeeded');
}

const sha256 = (file: string) => createHash('sha256').update(fs.readFileSync(file)).digest('hex');

describe('bundle checks: hangs, hashes, manifest facts, formats', function () {
  this.timeout(300000);
  let tmp: string;
  let engine: Engine;
  let copies = 0;

  /** A copy of the fixture bundle; `damage` edits its files and manifest (hashes are re-recorded when `rehash`). */
  function damagedCopy(damage: (dir: string, m: BundleManifest) => void, rehash = false): string {
    const dir = path.join(tmp, `bundle${copies++}`);
    fs.cpSync(requireBundle(), dir, { recursive: true });
    const file = path.join(dir, 'varscope.json');
    const m = JSON.parse(fs.readFileSync(file, 'utf8')) as BundleManifest;
    damage(dir, m);
    if (rehash)
      for (const rel of Object.keys(m.files))
        m.files[rel] = { sha256: sha256(path.join(dir, rel)), bytes: fs.statSync(path.join(dir, rel)).size };
    fs.writeFileSync(file, JSON.stringify(m));
    return dir;
  }

  before(async () => {
    requireBundle();
    tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'varscope-checks-'));
    process.env.VARSCOPE_CACHE_DIR = path.join(tmp, 'cache');
    engine = new Engine();
    await engine.configure({ provider: 'cpu', threads: 1, maxImagePixels: 1e8 });
  });
  after(async () => {
    await engine?.dispose();
    delete process.env.VARSCOPE_CACHE_DIR;
    fs.rmSync(tmp, { recursive: true, force: true });
  });

  describe('class 3: inputs that would hang the engine', () => {
    it('inspect /dev/zero fails at once: not a regular file', async () => {
      const e = await failsWithin(engine.inspect({ model: requireBundle(), image: { path: '/dev/zero' } }), 20000);
      assert.strictEqual(e.code, 'BadImage');
      assert.match(e.message, /\/dev\/zero is not a regular file \(a device\)/);
    });

    it('a folder given as an image is refused by name', async () => {
      const e = await failsWithin(engine.inspect({ model: requireBundle(), image: { path: tmp } }), 20000);
      assert.match(e.message, /is not a regular file \(a folder\)/);
    });

    it('one NaN in codebook.bin: the open fails naming codebook.bin (it used to spin forever)', async () => {
      const dir = damagedCopy((d) => {
        const f = path.join(d, 'codebook.bin');
        const b = fs.readFileSync(f);
        b.writeFloatLE(NaN, 4 * 37);
        fs.writeFileSync(f, b);
      }, true);
      const e = await failsWithin(engine.openModel({ model: dir }), 60000);
      assert.strictEqual(e.code, 'ModelLoad');
      assert.match(e.message, /codebook\.bin: codebook holds a non-finite value \(NaN at element 37\)/);
    });

    it('an infinity in trainingHits.bin is named too', async () => {
      const dir = damagedCopy((d) => {
        const f = path.join(d, 'trainingHits.bin');
        const b = fs.readFileSync(f);
        b.writeFloatLE(Infinity, 0);
        fs.writeFileSync(f, b);
      }, true);
      const e = await failsWithin(engine.openModel({ model: dir }), 60000);
      assert.match(e.message, /trainingHits\.bin: trainingHits holds a non-finite value \(Infinity at element 0\)/);
    });

    it('a NaN weight in weights.bin (hash re-recorded) is named with its tensor', async () => {
      const dir = damagedCopy((d) => {
        const onnx = readInitializers(fs.readFileSync(path.join(d, 'transformer.onnx')));
        const t = onnx.find((i) => i.name === 'var.class_emb.weight')!;
        const f = path.join(d, 'weights.bin');
        const b = fs.readFileSync(f);
        b.writeFloatLE(NaN, Number(t.external!.offset) + 4 * 5);
        fs.writeFileSync(f, b);
      }, true);
      const e = await failsWithin(engine.openModel({ model: dir }), 60000);
      assert.match(e.message, /weights\.bin: weight var\.class_emb\.weight holds a non-finite value at element 5/);
    });

    it('the colour ranks of values with NaN end (NaN !== NaN ended no group before)', () => {
      const r = weightedRanks(Float64Array.from([NaN, 1, NaN, 0]), Float64Array.from([1, 1, 1, 1]));
      assert.strictEqual(r.length, 4);
      assert.ok(r.every((v) => v > 0 && v < 1));
    });

    it('watchdog: a request stuck in a loop fails with a message, and the next request gets a fresh engine', async () => {
      // A stand-in engine process that answers status and configure but spins on inspect.
      const entry = path.join(tmp, 'spinningEngine.js');
      const rpc = path.join(ROOT, 'out', 'src', 'shared', 'rpc.js').replace(/\\/g, '/');
      fs.writeFileSync(
        entry,
        `const { RpcChannel } = require(${JSON.stringify(rpc)});
         const ch = new RpcChannel((m) => process.send(m), {
           configure: async () => undefined,
           status: async () => ({ pid: process.pid }),
           inspect: async () => { for (;;) {} },
           openModel: async () => ({ pid: process.pid }),
         });
         process.on('message', (m) => ch.receive(m));
         process.on('disconnect', () => process.exit(0));`,
      );
      const logs: string[] = [];
      const client = new EngineClient({
        entry,
        config: { provider: 'cpu', threads: 1, maxImagePixels: 1e8 },
        watchdogMs: 1500,
        log: (_, m) => logs.push(m),
      });
      try {
        const first = client.pid;
        const e = await failsWithin(client.call('inspect', { model: 'x', image: { path: 'y' } }), 30000);
        assert.strictEqual(e.code, 'Timeout');
        assert.match(e.message, /the engine stopped responding for 2 s while running inspect; it was stopped/);
        assert.ok(logs.some((l) => l.includes('stopped responding')));
        const again = (await client.call('openModel', { model: 'x' })) as unknown as { pid: number };
        assert.notStrictEqual(again.pid, first);
        assert.strictEqual(client.restartCount, 1);
      } finally {
        await client.dispose();
      }
    });
  });

  describe('round 3: stuck or dying engines', () => {
    const config = { provider: 'cpu' as const, threads: 1, maxImagePixels: 1e8 };
    const rpc = path.join(ROOT, 'out', 'src', 'shared', 'rpc.js').replace(/\\/g, '/');
    /** A stand-in engine process serving `handlers` (JavaScript source of an object of async methods). */
    const standIn = (name: string, handlers: string) => {
      const entry = path.join(tmp, name);
      fs.writeFileSync(
        entry,
        `const { RpcChannel } = require(${JSON.stringify(rpc)});
         const ch = new RpcChannel((m) => process.send(m), {
           configure: async () => undefined,
           status: async () => ({ pid: process.pid }),
           ...${handlers},
         });
         process.on('message', (m) => ch.receive(m));
         process.on('disconnect', () => process.exit(0));`,
      );
      return entry;
    };

    it("watchdog: a folder pass's limit grows with its batch (one run holds every image of the batch)", async () => {
      // openModel's facts make one run's expected bound ~1 s (runLimitMs); each batch of evaluateFolder takes 3 s.
      const entry = standIn(
        'batchEngine.js',
        `{ openModel: async () => ({ depth: 1, embedDim: 1000, tokenCount: 104 }),
           evaluateFolder: async (p) => { const end = Date.now() + 3000; while (Date.now() < end); return { images: p.batch }; } }`,
      );
      const params = { model: 'x', runId: 'r', folder: 'y', labels: { kind: 'none' as const } };
      // one client per case: a ping sent during one request bounds the next one too, with its own limit
      for (const [batch, stopped] of [
        [8, false], // bound 8 s
        [1, true], // bound 1 s
      ] as const) {
        const client = new EngineClient({ entry, config, watchdogMs: 400 });
        try {
          await client.call('openModel', { model: 'x' });
          const call = client.call('evaluateFolder', { ...params, batch });
          if (!stopped) assert.strictEqual(((await call) as unknown as { images: number }).images, 8);
          else {
            const e = await failsWithin(call, 30000);
            assert.strictEqual(e.code, 'Timeout');
            assert.match(e.message, /stopped responding for 1 s while running evaluateFolder/);
          }
        } finally {
          await client.dispose();
        }
      }
    });

    it('an engine that dies of an allocation failure fails its request as OutOfMemory, saying so in one line', async () => {
      // A stand-in whose inspect fills the V8 heap, capped at 32 MB: V8's own fatal out-of-memory report, then SIGABRT.
      const entry = standIn(
        'hungryEngine.js',
        `{ inspect: async () => { const a = []; for (;;) a.push(new Array(1e4).fill(a.length)); } }`,
      );
      const client = new EngineClient({ entry, config, watchdogMs: 0 });
      const options = process.env.NODE_OPTIONS;
      process.env.NODE_OPTIONS = '--max-old-space-size=32'; // read when the process starts, within the first call
      try {
        const inflight = client.call('inspect', { model: 'x', image: { path: 'y' } });
        if (options === undefined) delete process.env.NODE_OPTIONS;
        else process.env.NODE_OPTIONS = options;
        const e = await failsWithin(inflight, 60000);
        assert.strictEqual(e.code, 'OutOfMemory');
        assert.match(e.message, /^the engine ran out of memory \([^\n]*heap out of memory[^\n]*\); the next request restarts it$/);
        assert.match(e.detail ?? '', /FATAL ERROR/); // the report itself goes to the log
      } finally {
        process.env.NODE_OPTIONS = options;
        if (options === undefined) delete process.env.NODE_OPTIONS;
        await client.dispose();
      }
    });
  });

  describe('class 4: files verified against the sha256 recorded at export', () => {
    it('every 997th byte of weights.bin inverted: the open fails naming weights.bin and the re-export command', async () => {
      const dir = damagedCopy((d) => {
        const f = path.join(d, 'weights.bin');
        const b = fs.readFileSync(f);
        for (let i = 0; i < b.length; i += 997) b[i] = ~b[i] & 0xff;
        fs.writeFileSync(f, b);
      });
      const e = await failsWithin(engine.openModel({ model: dir }), 60000);
      assert.strictEqual(e.code, 'ModelLoad');
      assert.match(e.message, /weights\.bin does not match the sha256 recorded at export/);
      assert.match(e.message, /varscope export --vae vae\.pth --var var\.pth --out /);
    });

    it('a truncated graph file fails on its size, before any hashing', async () => {
      const dir = damagedCopy((d) => fs.truncateSync(path.join(d, 'transformer.onnx'), 100));
      const e = await failsWithin(engine.openModel({ model: dir }), 60000);
      assert.match(e.message, /transformer\.onnx is 100 bytes, the export recorded \d+/);
    });

    it('a file that no hash covers is refused', async () => {
      const dir = damagedCopy((_, m) => delete (m.files as Record<string, unknown>)['decoder.onnx']);
      const e = await failsWithin(engine.openModel({ model: dir }), 60000);
      assert.match(e.message, /decoder\.onnx has no sha256 in "files"/);
    });

    it('the first open hashes every file, the second takes them from the cache; a touched file is hashed again', async () => {
      const dir = damagedCopy(() => undefined);
      const m = JSON.parse(fs.readFileSync(path.join(dir, 'varscope.json'), 'utf8')) as BundleManifest;
      const cache = path.join(tmp, 'cache-test', 'verified.json');
      const first = await verifyBundleFiles(dir, m, 'hint', cache);
      assert.deepStrictEqual(first.hashed.sort(), Object.keys(m.files).sort());
      assert.deepStrictEqual(first.cached, []);
      const entries = (JSON.parse(fs.readFileSync(cache, 'utf8')) as { entries: Record<string, { sha256: string }> }).entries;
      assert.strictEqual(entries[path.join(dir, 'weights.bin')].sha256, m.files['weights.bin'].sha256);
      assert.deepStrictEqual(fs.readdirSync(path.dirname(cache)), ['verified.json']); // no temp file left behind
      const second = await verifyBundleFiles(dir, m, 'hint', cache);
      assert.deepStrictEqual(second.hashed, []);
      assert.strictEqual(second.cached.length, Object.keys(m.files).length);
      const later = new Date(Date.now() + 5000);
      fs.utimesSync(path.join(dir, 'codebook.bin'), later, later);
      const third = await verifyBundleFiles(dir, m, 'hint', cache);
      assert.deepStrictEqual(third.hashed, ['codebook.bin']);
    });

    it('a cached file changed in place (same size, mtime restored) is still caught when its hash is not cached for it', async () => {
      const dir = damagedCopy(() => undefined);
      const m = JSON.parse(fs.readFileSync(path.join(dir, 'varscope.json'), 'utf8')) as BundleManifest;
      const cache = path.join(tmp, 'cache-test2', 'verified.json');
      await verifyBundleFiles(dir, m, 'hint', cache);
      const f = path.join(dir, 'codebook.bin');
      const st = fs.statSync(f);
      const b = fs.readFileSync(f);
      b[10] ^= 1;
      fs.writeFileSync(f, b);
      fs.utimesSync(f, st.atime, new Date(st.mtimeMs + 1000)); // a new mtime: the cache entry no longer applies
      await assert.rejects(verifyBundleFiles(dir, m, 'hint', cache), /codebook\.bin does not match the sha256/);
    });
  });

  describe('class 5: manifest facts checked against the graphs', () => {
    it('nullClass != numClasses is refused with the reason', async () => {
      const dir = damagedCopy((_, m) => (m.var.nullClass = 7));
      const e = await failsWithin(engine.openModel({ model: dir }), 60000);
      assert.match(e.message, /var\.nullClass is 7, it must be numClasses \(1000\)/);
    });

    it('numClasses 1e6 fails at open time on the class embedding, with no ANSI codes', async () => {
      const dir = damagedCopy((_, m) => {
        m.var.numClasses = 1e6;
        m.var.nullClass = 1e6;
      });
      const e = await failsWithin(engine.openModel({ model: dir }), 60000);
      assert.strictEqual(e.code, 'ModelLoad');
      assert.match(
        e.message,
        /var\.numClasses \+ 1 rows \(nullClass\), var\.embedDim columns: the graph's var\.class_emb\.weight is \[1001,128\], varscope\.json implies \[1000001,128\]/,
      );
      assert.doesNotMatch(e.message + (e.detail ?? ''), new RegExp(String.fromCharCode(27)));
    });

    it('a wrong width, vocabulary or image size, consistent within varscope.json, is named against the graph shapes', async () => {
      // The manifest's own graph declarations follow the changed facts, so only the graphs can disagree.
      const redeclare = (m: BundleManifest) => {
        const f = manifestFacts(m);
        for (const [role, g] of Object.entries(GRAPH_SPEC.graphs)) {
          for (const side of ['inputs', 'outputs'] as const) {
            for (const [name, t] of Object.entries(g[side])) {
              m.graphs[role as keyof BundleManifest['graphs']][side][name].dims = t.dims.map((d) => resolveDim(d, f) ?? (d as string));
            }
          }
        }
      };
      const cases: Array<[(m: BundleManifest) => void, RegExp]> = [
        // Whichever graph holding the class table opens first names the mismatch (the graphs open concurrently).
        [
          (m) => ((m.var.embedDim = 256), (m.var.numHeads = 2)),
          /(transformer|attention)\.onnx \((transformer|attention)\) does not match varscope\.json: .*the graph's var\.class_emb\.weight is \[1001,128\], varscope\.json implies \[1001,256\]/,
        ],
        [
          (m) => (m.var.depth = 3),
          /transformerStep\.onnx \(transformerStep\) does not match varscope\.json: input "pastKey" dim 1 is 2 in the graph, the model needs 3/,
        ],
        [
          (m) => ((m.vae.imageSize = 512), (m.vae.downsample = 32)),
          /encoder\.onnx \(encoder\) does not match varscope\.json: input "image" dim 2 is 256 in the graph, the model needs 512/,
        ],
      ];
      for (const [damage, want] of cases) {
        const dir = damagedCopy((_, m) => {
          damage(m);
          redeclare(m);
        });
        const e = await failsWithin(engine.openModel({ model: dir }), 60000);
        assert.strictEqual(e.code, 'ModelLoad');
        assert.match(e.message, want);
      }
    });
  });

  describe('bundle format', () => {
    it('a format 1 bundle is refused with the commands that re-export it', async () => {
      const dir = damagedCopy((_, m) => {
        (m as { version: number }).version = 1;
        delete (m as Partial<BundleManifest>).files;
      });
      const e = await failsWithin(engine.openModel({ model: dir }), 60000);
      assert.match(
        e.message,
        /this bundle has format 1 .*this VARScope reads format 2: re-export it with `varscope export --vae VAE\.pth --var VAR\.pth --out DIR`/,
      );
      assert.match(e.message, /varscope\.from_bundle/);
    });

    it('the transformer graph stores no mask and the attention graph is its own', () => {
      const bundle = requireBundle();
      const m = JSON.parse(fs.readFileSync(path.join(bundle, 'varscope.json'), 'utf8')) as BundleManifest;
      assert.deepStrictEqual(Object.keys(m.graphs.transformer.outputs), ['logits']);
      assert.deepStrictEqual(Object.keys(m.graphs.attention.outputs), ['attn']);
      for (const role of ['transformer', 'attention'] as const) {
        const inits = readInitializers(fs.readFileSync(path.join(bundle, m.graphs[role].file)));
        assert.ok(!inits.some((t) => t.name === 'var.attn_bias_for_masking'), role);
        const L = m.tokenCount;
        assert.ok(!inits.some((t) => t.dims.length === 4 && t.dims[2] === L && t.dims[3] === L), `${role}: no [.., L, L] tensor stored`);
      }
    });
  });
});

describe('bundle family: an Infinity manifest is checked as Infinity, and refused where VAR is needed', () => {
  const infinityFile = path.join(ROOT, 'out', 'bundles', 'infinity-A', 'varscope.json');
  const infinityManifest = () => JSON.parse(fs.readFileSync(requireBundle(path.dirname(infinityFile)) + '/varscope.json', 'utf8'));

  it('checkManifest accepts the exported Infinity manifest and names what is wrong in a broken one', () => {
    const m = infinityManifest();
    assert.deepStrictEqual(checkManifest(m), []);
    assert.deepStrictEqual(checkManifest({ ...m, family: 'dit' }), [
      'family is "dit": this version of the engine opens VAR and Infinity bundles',
    ]);
    assert.deepStrictEqual(checkManifest({ ...m, bits: 'x' }), ['bits must be an integer in 1..64 (got "x")']);
    const broken = infinityManifest();
    broken.schedules[0].tokenCount = 520;
    assert.deepStrictEqual(checkManifest(broken), ['schedules[0] (hw1.000-0.06M): tokenCount is 520, scales give 521']);
    // a text encoder (python -m varscope.infinity.text_encoder) must give features as wide as the model reads
    const spec = (dims: Array<number | string>) => ({ dtype: 'int64', dims });
    const textEncoder = (width: number) => ({
      file: 'textEncoder.onnx',
      tokenizer: 'tokenizer.json',
      inputs: { input_ids: spec([1, 'tokens']), attention_mask: spec([1, 'tokens']) },
      outputs: { last_hidden_state: { dtype: 'float32', dims: [1, 'tokens', width] } },
    });
    assert.deepStrictEqual(checkManifest({ ...m, textEncoder: textEncoder(128) }), []);
    assert.deepStrictEqual(checkManifest({ ...m, textEncoder: textEncoder(64) }), [
      'textEncoder must take input_ids and attention_mask (int64) and give last_hidden_state [1, N, text.featureWidth 128] (its outputs: an object {"last_hidden_state"})',
    ]);
    assert.deepStrictEqual(checkManifest({ ...m, textEncoder: { ...textEncoder(128), tokenizer: 'a/../t.json' } }), [
      'textEncoder.tokenizer is not a file path in normal form: write "t.json" (each file has one spelling)',
    ]);
    // "var" (and no family, as every VAR bundle so far) goes on to the VAR checks
    const varProblems = checkManifest({ ...m, family: 'var' });
    assert.ok(varProblems.length && !varProblems.some((p) => p.includes('family')), varProblems.join('\n'));
  });

  it('ModelBundle.load (VAR only) refuses an Infinity bundle folder in one line, naming varscope.json', async () => {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'varscope-infinity-'));
    try {
      fs.writeFileSync(path.join(dir, 'varscope.json'), JSON.stringify(infinityManifest()));
      const runtime = { provider: undefined, fallbacks: [] } as unknown as OnnxRuntime;
      const message = await loadRefusal(() => ModelBundle.load(dir, runtime, { cacheFile: path.join(dir, 'verified.json') }), dir);
      assert.strictEqual(message, `${path.join(dir, 'varscope.json')}: ${INFINITY_NOT_VAR}`);
    } finally {
      fs.rmSync(dir, { recursive: true, force: true });
    }
  });
});
