/**
 * The CLI under bad outputs, bad numbers, signals and empty inputs: nothing a user owns is lost, every output is
 * whole or absent, and each refusal is one line that names the path or the value (no stack trace).
 */
import * as assert from 'assert';
import { spawn, spawnSync } from 'child_process';
import * as fs from 'fs';
import * as os from 'os';
import * as path from 'path';
import * as zlib from 'zlib';
import { createHash } from 'crypto';
import { checkParams } from '../../../src/extension/messageValidator';
import { samplingSettingsError } from '../../../src/shared/samplingBounds';
import type { ModelInfo } from '../../../src/shared/results';
import { batchMemoryProblem } from '../../../src/cli/evaluateCommand';
import { CLI_BIN, CLI_ENV, fixture, requireBundle, ROOT } from '../fixtures';
import { endlessEncoder } from '../onnxGraph';
import { PNG_SIGNATURE, pngChunk, pngHeader } from '../png';

const BIN = CLI_BIN;
const ENV = CLI_ENV;
const CHECKPOINTS = ['--vae', fixture('vae.pth'), '--var', fixture('var.pth')];

interface Run {
  code: number;
  stdout: string;
  stderr: string;
}

/** bin/varscope.js on the tsc build; `shell` runs it under a bash prefix (e.g. a ulimit). */
function cli(args: string[], shell?: string): Run {
  const r = shell
    ? spawnSync('bash', ['-c', `${shell}; exec "$0" "$@"`, process.execPath, BIN, ...args], { encoding: 'utf8', timeout: 300000, env: ENV })
    : spawnSync(process.execPath, [BIN, ...args], { encoding: 'utf8', timeout: 300000, env: ENV });
  return { code: r.status ?? -1, stdout: r.stdout, stderr: r.stderr };
}

/** `cli(args)` and the peak RSS (MB) of the largest process it ran (python3's getrusage of its waited-for children). */
function cliRss(args: string[]): Run & { maxRssMB: number } {
  const report = path.join(os.tmpdir(), `varscope-rss-${process.pid}-${Date.now()}`);
  const py =
    'import resource, subprocess, sys\n' +
    'r = subprocess.run(sys.argv[2:])\n' +
    'open(sys.argv[1], "w").write(str(resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss))\n' +
    'sys.exit(r.returncode)';
  const r = spawnSync('python3', ['-c', py, report, process.execPath, BIN, ...args], { encoding: 'utf8', timeout: 300000, env: ENV });
  const kb = Number(fs.readFileSync(report, 'utf8'));
  fs.rmSync(report, { force: true });
  return { code: r.status ?? -1, stdout: r.stdout, stderr: r.stderr, maxRssMB: kb / 1024 };
}

/** A w×h PNG of one grey (a few hundred KB for 20000²: rows of zeros deflate ~1000:1), written without holding the pixels. */
async function oneColourPng(file: string, w: number, h: number): Promise<void> {
  const deflate = zlib.createDeflate({ level: 9 });
  const parts: Buffer[] = [];
  deflate.on('data', (c: Buffer) => parts.push(c));
  const ended = new Promise((resolve) => deflate.on('end', resolve));
  const rows = Buffer.alloc((w + 1) * 100); // filter byte 0 and w zero pixels, 100 rows at a time
  for (let y = 0; y < h; y += 100)
    if (!deflate.write(rows.subarray(0, (w + 1) * Math.min(100, h - y)))) await new Promise((r) => deflate.once('drain', r));
  deflate.end();
  await ended;
  const png = [PNG_SIGNATURE, pngHeader(w, h, 0), pngChunk('IDAT', Buffer.concat(parts)), pngChunk('IEND', Buffer.alloc(0))];
  fs.writeFileSync(file, Buffer.concat(png));
}

/** Exactly one stderr line, naming `what`, with no stack frame in it. */
function assertOneLine(r: Run, what: RegExp): void {
  const lines = r.stderr.trim().split('\n');
  assert.strictEqual(lines.length, 1, r.stderr);
  assert.match(lines[0], what);
  assert.doesNotMatch(r.stderr, /\n\s+at |Traceback/);
}

/** Every file under `dir` with its bytes (to compare a folder before and after). */
function snapshot(dir: string, out: Record<string, string> = {}, base = dir): Record<string, string> {
  for (const e of fs.readdirSync(dir, { withFileTypes: true })) {
    const p = path.join(dir, e.name);
    out[path.relative(base, p)] = e.isDirectory() ? 'dir' : fs.readFileSync(p).toString('base64');
    if (e.isDirectory()) snapshot(p, out, base);
  }
  return out;
}

/** Process `pid` has ended (gone, or a zombie nobody reaped). */
function ended(pid: number): boolean {
  try {
    return fs.readFileSync(`/proc/${pid}/stat`, 'utf8').split(') ')[1].startsWith('Z');
  } catch {
    return true;
  }
}

/** The processes below `pid` (bin/varscope.js runs the CLI in a child process, which runs the exporter or the engine). */
function descendants(pid: number): number[] {
  const parentOf = new Map<number, number>();
  for (const d of fs.readdirSync('/proc').filter((e) => /^\d+$/.test(e))) {
    try {
      parentOf.set(Number(d), Number(fs.readFileSync(`/proc/${d}/stat`, 'utf8').split(') ')[1].split(' ')[1]));
    } catch {
      // the process ended meanwhile
    }
  }
  const below = (p: number): boolean => {
    for (let q = parentOf.get(p), hops = 0; q !== undefined && hops < 64; q = parentOf.get(q), hops++) if (q === pid) return true;
    return false;
  };
  return [...parentOf.keys()].filter(below);
}

/** The python3 processes below `pid`. */
function pythonChildren(pid: number): number[] {
  return descendants(pid).filter((p) => {
    try {
      return fs.readFileSync(`/proc/${p}/stat`, 'utf8').includes('(python3');
    } catch {
      return false;
    }
  });
}

/** CPU seconds a process has used (0 once it is gone). */
function cpuSeconds(pid: number): number {
  try {
    const f = fs.readFileSync(`/proc/${pid}/stat`, 'utf8').split(') ')[1].split(' ');
    return (Number(f[11]) + Number(f[12])) / 100; // utime + stime, in clock ticks of 1/100 s
  } catch {
    return 0;
  }
}

/** Wait until `done()` or `ms` passed; whether it happened. */
async function waitFor(done: () => boolean, ms: number): Promise<boolean> {
  const deadline = Date.now() + ms;
  while (!done() && Date.now() < deadline) await new Promise((r) => setTimeout(r, 100));
  return done();
}

/** A copy of the bundle whose encoder never returns (a `Loop` that runs forever), its hash re-recorded. */
function endlessBundle(bundle: string, dir: string): string {
  fs.cpSync(bundle, dir, { recursive: true });
  const manifest = path.join(dir, 'varscope.json');
  const m = JSON.parse(fs.readFileSync(manifest, 'utf8'));
  const graph = path.join(dir, m.graphs.encoder.file);
  fs.writeFileSync(graph, endlessEncoder(m.vae.imageSize, m.vae.downsample, m.vae.Cvae));
  const bytes = fs.readFileSync(graph);
  m.files[m.graphs.encoder.file] = { sha256: createHash('sha256').update(bytes).digest('hex'), bytes: bytes.length };
  fs.writeFileSync(manifest, JSON.stringify(m));
  return dir;
}

describe('CLI reliability', function () {
  this.timeout(300000);
  let model: string;
  let tmp: string;
  before(() => {
    model = requireBundle();
    tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'varscope-clirel-'));
  });
  after(() => tmp && fs.rmSync(tmp, { recursive: true, force: true }));

  it('export --out replaces only an empty folder or a bundle: a user folder, a file or a bundle with extra files are refused untouched', () => {
    const user = path.join(tmp, 'user');
    fs.mkdirSync(path.join(user, 'sub'), { recursive: true });
    fs.writeFileSync(path.join(user, 'notes.txt'), 'my notes');
    const file = path.join(tmp, 'file.txt');
    fs.writeFileSync(file, 'keep me');
    const extra = path.join(tmp, 'bundle-plus');
    fs.cpSync(model, extra, { recursive: true });
    fs.writeFileSync(path.join(extra, 'notes.txt'), 'mine');
    for (const [out, why] of [
      [user, /not a VARScope bundle/],
      [file, /not a folder/],
      [extra, /not part of it \(notes\.txt\)/],
    ] as const) {
      const before = fs.statSync(out).isDirectory() ? snapshot(out) : { file: fs.readFileSync(out, 'utf8') };
      const r = cli(['export', ...CHECKPOINTS, '--out', out]);
      assert.strictEqual(r.code, 2, r.stderr);
      assertOneLine(r, why);
      assert.ok(r.stderr.includes(out), r.stderr);
      assert.doesNotMatch(r.stdout, /loading/); // refused before any work
      assert.deepStrictEqual(fs.statSync(out).isDirectory() ? snapshot(out) : { file: fs.readFileSync(out, 'utf8') }, before);
    }
    assert.deepStrictEqual(
      fs.readdirSync(tmp).filter((n) => n.includes('.partial-')),
      [],
    );
  });

  it('a write that fails part-way (file size limit) keeps the previous --json file whole', () => {
    const out = path.join(tmp, 'old.json');
    fs.writeFileSync(out, '{"previous": true}\n');
    // ulimit -f 4: writes past 4 KiB fail with EFBIG, as on a full disk; the inspect JSON is larger
    const r = cli(['inspect', fixture('img0.png'), '--model', model, '--provider', 'cpu', '--json', out], 'ulimit -f 4');
    assert.strictEqual(r.code, 1, r.stderr);
    assert.match(r.stderr, /cannot write .*old\.json: file too large.*previous file .* unchanged/);
    assert.doesNotMatch(r.stderr, /\n\s+at /);
    assert.strictEqual(fs.readFileSync(out, 'utf8'), '{"previous": true}\n');
    assert.deepStrictEqual(
      fs.readdirSync(tmp).filter((n) => n.endsWith('.tmp')),
      [],
    );
  });

  it('writeFileAtomic killed (SIGKILL) in the middle of a write leaves the previous file', () => {
    const dir = fs.mkdtempSync(path.join(tmp, 'kill-'));
    const target = path.join(dir, 'out.bin');
    fs.writeFileSync(target, 'previous');
    const script = `require(${JSON.stringify(path.join(ROOT, 'out', 'src', 'node', 'atomicWrite.js'))}).writeFileAtomic(${JSON.stringify(target)}, Buffer.alloc(384 << 20, 7))`;
    const child = spawn(process.execPath, ['-e', script], { stdio: 'ignore' });
    const sleep = new Int32Array(new SharedArrayBuffer(4));
    let sawTemp = false;
    for (let i = 0; i < 60000 && !sawTemp; i++) {
      sawTemp = fs.readdirSync(dir).some((n) => n.endsWith('.tmp') && fs.statSync(path.join(dir, n)).size > 0);
      if (!sawTemp) Atomics.wait(sleep, 0, 0, 1);
    }
    child.kill('SIGKILL');
    assert.ok(sawTemp, 'the temporary file never appeared');
    const deadline = Date.now() + 30000;
    while (child.exitCode === null && child.signalCode === null && !ended(child.pid!) && Date.now() < deadline)
      Atomics.wait(sleep, 0, 0, 10);
    assert.strictEqual(fs.readFileSync(target, 'utf8'), 'previous');
  });

  it('sampling settings outside their float32-safe bounds are refused by the CLI (before the model) and the panel validator', () => {
    const nomodel = path.join(tmp, 'no-model');
    for (const [flag, value, want] of [
      ['--cfg', '1e39', /--cfg must be a number in \[0, 100\], got 1e\+39/],
      ['--cfg', '-0.5', /--cfg must be a number in \[0, 100\]/],
      ['--top-p', '1.5', /--top-p must be a number in \[0, 1\]/],
      ['--top-k', '1e7', /--top-k must be an integer in \[0, 1000000\]/],
      ['--seed', '4294967296', /--seed must be an integer in \[0, 4294967295\]/],
      ['--class', '1e39', /--class must be an integer in \[0, 1000000\]/],
    ] as const) {
      const args = ['generate', '--model', nomodel, '--class', '1', flag, value];
      const r = cli(args);
      assert.strictEqual(r.code, 2, `${flag} ${value}: ${r.stderr}`);
      assertOneLine(r, want);
    }
    const settings = { classId: 1, seed: 0, cfg: 4, topK: 900, topP: 0.96 };
    assert.strictEqual(samplingSettingsError(settings), null);
    assert.doesNotThrow(() => checkParams('generationStart', { settings }));
    for (const bad of [{ cfg: 1e39 }, { cfg: NaN }, { topP: -0.1 }, { topK: 2.5 }, { seed: 2 ** 32 }, { classId: -1 }]) {
      assert.throws(() => checkParams('generationStart', { settings: { ...settings, ...bad } }), /BadRequest|must be/, JSON.stringify(bad));
      assert.throws(
        () => checkParams('edit', { scaleIndex: 1, positions: [0], tokens: 'resample', settings: { ...settings, ...bad } }),
        /must be/,
      );
    }
  });

  it('evaluate --free-running-modes outside sampled, greedy, and --free-running-csv without --free-running, are refused before the model', () => {
    const nomodel = path.join(tmp, 'no-model');
    for (const [args, want] of [
      [
        ['--free-running', '--free-running-modes', 'greedy,beam'],
        /^varscope evaluate: --free-running-modes must be some of sampled, greedy, comma-separated; got "beam"$/,
      ],
      [
        ['--free-running', '--free-running-modes', ','],
        /^varscope evaluate: --free-running-modes must be some of sampled, greedy, comma-separated; got ""$/,
      ],
      [['--free-running-csv', path.join(tmp, 'f.csv')], /^varscope evaluate: --free-running-csv needs --free-running$/],
    ] as const) {
      const r = cli(['evaluate', tmp, '--model', nomodel, ...args, '--json', path.join(tmp, 'free.json')]);
      assert.strictEqual(r.code, 2, `${args.join(' ')}: ${r.stderr}`);
      assertOneLine(r, want);
    }
  });

  it('output paths are checked before the model runs: one line naming the path and the problem', () => {
    const nomodel = path.join(tmp, 'no-model'); // would fail with "no model bundle" if the model were opened first
    const afile = path.join(tmp, 'a-file');
    fs.writeFileSync(afile, 'x');
    const cases: Array<[string[], RegExp]> = [
      [
        ['inspect', fixture('img0.png'), '--json', '/proc/varscope-test.json'],
        /--json \/proc\/varscope-test\.json: cannot create files in \/proc/,
      ],
      [['inspect', fixture('img0.png'), '--json', tmp], /--json .*: is a folder/],
      [['inspect', fixture('img0.png'), '--json', '/dev/full'], /--json \/dev\/full: is not a regular file/],
      [['inspect', fixture('img0.png'), '--json', path.join(afile, 'x.json')], /part of the path is a file/],
      [['inspect', fixture('img0.png'), '--images-dir', afile], /--images-dir .*a-file: exists and is not a folder/],
      [['generate', '--class', '1', '--out', tmp], /--out .*: is a folder/],
      [['eval', fixture('img0.png'), '--class', '1', '--json', fixture('img0.png')], /--json .*img0\.png: is also the input IMAGE/],
    ];
    for (const [args, want] of cases) {
      const r = cli([...args, '--model', nomodel]);
      assert.strictEqual(r.code, 2, `${args.join(' ')}: ${r.stderr}`);
      assertOneLine(r, want);
    }
    const share = cli(['export', ...CHECKPOINTS, '--out', path.join(tmp, 'self'), '--share-vae-from', path.join(tmp, 'self')]);
    assert.strictEqual(share.code, 2, share.stderr);
    assertOneLine(share, /--share-vae-from .*self: is the --out folder itself/);
  });

  for (const [how, sig] of [
    ['SIGTERM to the varscope process alone', 'SIGTERM'],
    ['Ctrl-C (SIGINT to the process group)', 'SIGINT'],
  ] as const) {
    it(`export: ${how} stops the Python exporter, prints one line, and leaves the old bundle`, async () => {
      const out = path.join(tmp, `old-${sig}`);
      fs.cpSync(model, out, { recursive: true });
      const before = snapshot(out);
      const child = spawn(process.execPath, [BIN, 'export', ...CHECKPOINTS, '--out', out], { env: ENV, detached: true });
      let stdout = '';
      let stderr = '';
      child.stdout.on('data', (d) => (stdout += d));
      child.stderr.on('data', (d) => (stderr += d));
      const exited = new Promise<number | null>((resolve) => child.on('exit', (code) => resolve(code)));
      while (!/exporting/.test(stdout)) {
        if (child.exitCode !== null) assert.fail(`the export ended early: ${stderr}`);
        await new Promise((r) => setTimeout(r, 100));
      }
      const python = pythonChildren(child.pid!);
      assert.strictEqual(python.length, 1, 'one Python exporter runs');
      if (sig === 'SIGINT') process.kill(-child.pid!, 'SIGINT');
      else process.kill(child.pid!, 'SIGTERM');
      const code = await exited;
      assert.strictEqual(code, sig === 'SIGINT' ? 130 : 143, stderr);
      assertOneLine({ code: code ?? -1, stdout, stderr }, new RegExp(`interrupted \\(${sig}\\).*--out is as it was`));
      const deadline = Date.now() + 20000;
      while (!ended(python[0]) && Date.now() < deadline) await new Promise((r) => setTimeout(r, 100));
      assert.ok(ended(python[0]), 'the Python exporter still runs');
      assert.deepStrictEqual(snapshot(out), before);
      assert.deepStrictEqual(
        fs.readdirSync(tmp).filter((n) => n.includes('.partial-')),
        [],
      );
    });
  }

  it('stats on an empty folder or on 0-byte files fails and lists every failure', () => {
    const empty = path.join(tmp, 'empty');
    fs.mkdirSync(empty);
    const none = cli(['stats', empty, '--model', model, '--provider', 'cpu']);
    assert.strictEqual(none.code, 1, none.stderr);
    assertOneLine(none, /no image files \(\.png .*\) under .*empty/);
    assert.strictEqual(none.stdout, '');
    const zeros = path.join(tmp, 'zeros');
    fs.mkdirSync(zeros);
    for (let i = 0; i < 10; i++) fs.writeFileSync(path.join(zeros, `z${i}.png`), '');
    const r = cli(['stats', zeros, '--model', model, '--provider', 'cpu']);
    assert.strictEqual(r.code, 1, r.stderr);
    assert.match(r.stderr, /no usable image under .*zeros: all 10 image files failed/);
    for (let i = 0; i < 10; i++) assert.match(r.stderr, new RegExp(`z${i}\\.png is empty \\(0 bytes\\)`));
    assert.strictEqual(r.stdout, '');
  });

  it('stats shows a progress line on a terminal only; the JSON stays the same', () => {
    const dir = path.join(tmp, 'two');
    fs.mkdirSync(dir);
    fs.copyFileSync(fixture('img0.png'), path.join(dir, 'a.png'));
    fs.copyFileSync(fixture('img1.png'), path.join(dir, 'b.png'));
    const json = path.join(tmp, 'tty.json');
    const quote = (s: string) => `'${s.replace(/'/g, `'\\''`)}'`;
    const command = [process.execPath, BIN, 'stats', dir, '--model', model, '--provider', 'cpu', '--json', json].map(quote).join(' ');
    // script(1) runs the command on a pseudo-terminal and copies what it prints
    const tty = spawnSync('script', ['-qec', command, '/dev/null'], { encoding: 'utf8', timeout: 300000, env: ENV });
    assert.strictEqual(tty.status, 0, tty.stdout + tty.stderr);
    assert.match(tty.stdout, /stats: 2\/2 images/);
    const piped = cli(['stats', dir, '--model', model, '--provider', 'cpu']);
    assert.strictEqual(piped.code, 0, piped.stderr);
    assert.doesNotMatch(piped.stderr, /stats:/);
    assert.deepStrictEqual(JSON.parse(piped.stdout), JSON.parse(fs.readFileSync(json, 'utf8')));
  });

  it('one pixel limit, from the header before decoding: a 20000² PNG is refused in one line, its pixels never decoded', async () => {
    const big = path.join(tmp, 'big.png');
    await oneColourPng(big, 20000, 20000);
    assert.ok(fs.statSync(big).size < 2 ** 20, `${fs.statSync(big).size} bytes`);
    // Above the most the decoder takes (sharp's own limit, which preprocess met after a 2.7 GiB decode): refused at once.
    const over = cli(['inspect', big, '--max-pixels', '500000000', '--model', model, '--provider', 'cpu']);
    assert.strictEqual(over.code, 2, over.stderr);
    assertOneLine(over, /--max-pixels must be <= 268402689, got 500000000/);
    // At that limit: the header's 400 M pixels are refused before any pixel is decoded.
    const r = cliRss(['inspect', big, '--max-pixels', '268402689', '--model', model, '--provider', 'cpu']);
    assert.strictEqual(r.code, 1, r.stderr);
    assertOneLine(r, /big\.png is 20000x20000 = 400000000 pixels, more than 268402689, the most VARScope decodes/);
    assert.ok(r.maxRssMB < 600, `peak RSS ${r.maxRssMB} MB`);
  });

  for (const [how, sig] of [
    ['Ctrl-C (SIGINT to the process group)', 'SIGINT'],
    ['SIGTERM to the varscope process alone', 'SIGTERM'],
  ] as const) {
    it(`inspect on a graph that never returns: ${how} stops it within 20 s, one line, no process or file left`, async () => {
      const endless = endlessBundle(model, path.join(tmp, `endless-${sig}`));
      const out = path.join(tmp, `endless-out-${sig}`);
      const scratch = path.join(tmp, `endless-tmp-${sig}`); // TMPDIR of the command and everything it starts
      fs.mkdirSync(out);
      fs.mkdirSync(scratch);
      const args = ['inspect', fixture('img0.png'), '--model', endless, '--provider', 'cpu', '--json', path.join(out, 'r.json')];
      const child = spawn(process.execPath, [BIN, ...args, '--images-dir', path.join(out, 'scales')], {
        env: { ...ENV, TMPDIR: scratch },
        detached: true,
      });
      let stderr = '';
      child.stderr.on('data', (d) => (stderr += d));
      const exited = new Promise<number | null>((resolve) => child.on('exit', (code) => resolve(code)));
      try {
        // The graph spins once some process below the command has used 5 s of CPU (opening the model takes ~1 s).
        const spinning = await waitFor(() => descendants(child.pid!).some((p) => cpuSeconds(p) > 5), 120000);
        assert.ok(spinning, `the endless graph never ran: ${stderr}`);
        const below = descendants(child.pid!);
        if (sig === 'SIGINT') process.kill(-child.pid!, 'SIGINT');
        else process.kill(child.pid!, 'SIGTERM');
        const stopped = await waitFor(() => child.exitCode !== null || child.signalCode !== null, 20000);
        assert.ok(stopped, `still running 20 s after ${sig}: ${stderr}`);
        const code = await exited;
        assert.strictEqual(code, sig === 'SIGINT' ? 130 : 143, stderr);
        assertOneLine({ code: code ?? -1, stdout: '', stderr }, new RegExp(`varscope inspect: interrupted \\(${sig}\\)`));
        assert.ok(await waitFor(() => below.every(ended), 10000), `left running: ${below.filter((p) => !ended(p))}`);
        assert.deepStrictEqual(fs.readdirSync(out), []);
        assert.deepStrictEqual(fs.readdirSync(scratch), []); // the engine's temporary files (its onnxruntime profile) too
      } finally {
        if (child.exitCode === null && child.signalCode === null) process.kill(-child.pid!, 'SIGKILL');
        for (const p of descendants(child.pid!)) process.kill(p, 'SIGKILL');
      }
    });
  }

  it('under an address-space limit (prlimit --as) inspect and generate run, or fail in one line with exit 1, never abort', () => {
    const runs = (as: number, args: string[]) =>
      spawnSync('prlimit', [`--as=${as}`, process.execPath, BIN, ...args, '--provider', 'cpu'], {
        encoding: 'utf8',
        timeout: 300000,
        env: ENV,
      });
    const commands = [
      ['inspect', fixture('img0.png'), '--model', model],
      ['generate', '--class', '1', '--model', model],
    ];
    for (const args of commands) {
      // 1 GB: the engine cannot start its threads (V8, onnxruntime) or the CLI cannot map sharp's library
      const low = runs(1_000_000_000, args);
      assert.strictEqual(low.status, 1, `${args[0]}: ${low.status} ${low.signal} ${low.stderr}`);
      assertOneLine(
        { code: 1, stdout: low.stdout, stderr: low.stderr },
        new RegExp(`^varscope ${args[0]}: .*(out of memory|not enough memory)`),
      );
      assert.strictEqual(low.stdout, '');
      // 2 GB: what the engine needs (~0.3 GB of memory) fits once glibc's per-thread heaps are few (it aborted before)
      const ok = runs(2_000_000_000, args);
      assert.strictEqual(ok.status, 0, `${args[0]}: ${ok.status} ${ok.signal} ${ok.stderr}`);
      assert.ok(JSON.parse(ok.stdout).scales.length > 0);
    }
  });

  it('evaluate: a first Ctrl-C stops after the batch in progress and still writes what was measured, marked cancelled', async () => {
    const dir = path.join(tmp, 'many');
    fs.mkdirSync(dir);
    for (let i = 0; i < 60; i++) fs.copyFileSync(fixture(`img${i % 3}.png`), path.join(dir, `i${String(i).padStart(2, '0')}.png`));
    const json = path.join(tmp, 'many.json');
    const args = ['evaluate', dir, '--model', model, '--provider', 'cpu', '--batch', '2', '--json', json];
    const child = spawn(process.execPath, [BIN, ...args], { env: ENV, detached: true });
    let stderr = '';
    child.stderr.on('data', (d) => (stderr += d));
    const exited = new Promise<number | null>((resolve) => child.on('exit', (code) => resolve(code)));
    try {
      // a few batches in: the engine has used some CPU time after opening the model
      assert.ok(await waitFor(() => descendants(child.pid!).some((p) => cpuSeconds(p) > 6), 120000), stderr);
      process.kill(-child.pid!, 'SIGINT');
      const code = await exited;
      assert.strictEqual(code, 0, stderr);
      assert.match(stderr, /^varscope evaluate: stopping after this batch \(Ctrl-C again to quit now\)\n$/);
      const j = JSON.parse(fs.readFileSync(json, 'utf8'));
      assert.strictEqual(j.cancelled, true);
      assert.ok(j.images > 0 && j.images < 60 && j.images % 2 === 0, `${j.images} images`);
    } finally {
      if (child.exitCode === null && child.signalCode === null) process.kill(-child.pid!, 'SIGKILL');
    }
  });

  it('evaluate reports the images that failed on stderr as stats does (count and first reasons), and marks the JSON', () => {
    const dir = path.join(tmp, 'partial');
    fs.mkdirSync(dir);
    for (let i = 0; i < 3; i++) fs.copyFileSync(fixture(`img${i}.png`), path.join(dir, `good${i}.png`));
    for (let i = 0; i < 5; i++) fs.writeFileSync(path.join(dir, `lost${i}.png`), i % 2 ? 'not a png' : '');
    const r = cli(['evaluate', dir, '--model', model, '--provider', 'cpu']);
    assert.strictEqual(r.code, 0, r.stderr);
    const lines = r.stderr.trimEnd().split('\n');
    assert.deepStrictEqual(lines.length, 5, r.stderr);
    assert.strictEqual(lines[0], 'varscope evaluate: 5 of 8 image files failed (listed under "failed" in the JSON)');
    assert.match(lines[1], /^ {2}.*lost0\.png is empty \(0 bytes\)$/);
    assert.match(lines[2], /^ {2}.*lost1\.png.* not an image VARScope can read/);
    assert.match(lines[3], /^ {2}.*lost2\.png is empty/);
    assert.strictEqual(lines[4], '  … and 2 more');
    const j = JSON.parse(r.stdout);
    assert.strictEqual(j.imagesFailed, 5);
    assert.strictEqual(j.images, 3);
    assert.strictEqual(j.failed.length, 5);
    // none usable is an error, as for stats
    const none = path.join(tmp, 'none-usable');
    fs.mkdirSync(none);
    fs.writeFileSync(path.join(none, 'a.png'), '');
    const empty = cli(['evaluate', none, '--model', model, '--provider', 'cpu']);
    assert.strictEqual(empty.code, 1, empty.stderr);
    assert.match(empty.stderr, /no usable image under .*none-usable: all 1 image files failed:\n {2}.*a\.png is empty/);
    assert.strictEqual(empty.stdout, '');
  });

  it('evaluate --batch: what a batch costs is in --help, and a batch that does not fit the memory available is refused', () => {
    const help = cli(['evaluate', '--help']);
    assert.match(help.stdout, /--batch +images per batch; each image holds memory while it is scored .*~25 MB .* is refused \(default 8\)/);
    const fixtureModel = { name: 'official-var-A', tokenCount: 680, vocabSize: 512, patchNums: [1, 2, 3, 4, 5, 6, 8, 10, 13, 16] };
    const info = { ...fixtureModel, imageSize: 256, numHeads: 2, embedDim: 128 } as ModelInfo;
    // 23 MB an image (the engine measured 7.25 GB at --batch 256): 256 do not fit in 4 GB, 172 do
    assert.strictEqual(
      batchMemoryProblem(256, info, 4e9),
      '--batch 256 needs about 5.9 GB for official-var-A (23 MB an image), more than the 4.0 GB of memory available; use --batch 172 or less',
    );
    assert.strictEqual(batchMemoryProblem(172, info, 4e9), undefined);
    assert.strictEqual(batchMemoryProblem(1, info, 1e6), undefined); // one image at a time always runs
  });
});
