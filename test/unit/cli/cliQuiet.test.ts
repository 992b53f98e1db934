/**
 * The CLI's own output only: native warnings (Dawn's "Couldn't load Vulkan", onnxruntime's logger) never reach
 * stderr unless --verbose asks; every JSON result names the provider that ran; `export` runs the Python that
 * --python or VARSCOPE_PYTHON names (fake interpreters record how they were called).
 */
import * as assert from 'assert';
import * as fs from 'fs';
import * as os from 'os';
import * as path from 'path';
import { fixture, requireBundle, runCli } from '../fixtures';

const cli = runCli;

describe('CLI output', function () {
  this.timeout(300000);
  let model: string;
  let tmp: string;
  before(() => {
    model = requireBundle();
    tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'varscope-cliq-'));
  });
  after(() => tmp && fs.rmSync(tmp, { recursive: true, force: true }));

  it('auto provider: stderr stays empty, the JSON names the provider that ran', () => {
    const r = cli(['eval', fixture('img0.png'), '--model', model, '--class', '3', '--json', '-']);
    assert.strictEqual(r.code, 0, r.stderr);
    assert.strictEqual(r.stderr, '', 'nothing but the CLI may write to stderr');
    const j = JSON.parse(r.stdout);
    assert.ok(['cpu', 'webgpu', 'cuda'].includes(j.provider), j.provider);
    const inspect = JSON.parse(cli(['inspect', fixture('img0.png'), '--model', model, '--json', '-']).stdout);
    assert.strictEqual(inspect.provider, inspect.model.provider);
  });

  it('--verbose tells why each faster provider was skipped', () => {
    const r = cli(['eval', fixture('img0.png'), '--model', model, '--class', '3', '--json', path.join(tmp, 'e.json'), '--verbose']);
    assert.strictEqual(r.code, 0, r.stderr);
    const j = JSON.parse(fs.readFileSync(path.join(tmp, 'e.json'), 'utf8'));
    if (j.provider === 'cpu') assert.match(r.stderr, /varscope: provider webgpu skipped: /);
    assert.doesNotMatch(r.stderr, /^Warning: /m, 'native lines are labelled, not passed as they are');
  });

  it('export runs the Python named by --python or VARSCOPE_PYTHON, without that flag', () => {
    const record = path.join(tmp, 'called.txt');
    const fakePython = (name: string, torch: string) => {
      const file = path.join(tmp, name);
      fs.writeFileSync(
        file,
        `#!/bin/sh\nif [ "$1" = "-c" ]; then echo 'VARSCOPE_PROBE {"python": "3.12.0", "torch": "${torch}", "onnx": "1.16.0"}'; exit 0; fi\necho "${name} $*" >> ${record}\nexit 0\n`,
        { mode: 0o755 },
      );
      return file;
    };
    const good = fakePython('good-python', '2.3.0');
    const viaEnv = fakePython('env-python', '2.3.0');
    const old = fakePython('old-python', '1.12.1');
    assert.strictEqual(cli(['export', '--python', good, '--vae', 'a.pth', '--var', 'b.pth', '--out', 'x']).code, 0);
    assert.strictEqual(cli(['export', '--vae', 'a.pth', '--var', 'b.pth', '--out', 'y'], { VARSCOPE_PYTHON: viaEnv }).code, 0);
    // An explicit Python without a recent torch is skipped, said so, and the next one (python3 on PATH) runs.
    const bin = fs.mkdtempSync(path.join(tmp, 'bin-'));
    fs.copyFileSync(good, path.join(bin, 'python3'));
    fs.chmodSync(path.join(bin, 'python3'), 0o755);
    const r = cli(['export', `--python=${old}`, '--out', 'z'], { PATH: `${bin}${path.delimiter}${process.env.PATH}` });
    assert.strictEqual(r.code, 0, r.stderr);
    assert.match(
      r.stderr,
      /--python .*old-python skipped \(torch 1\.12\.1 is older than 1\.13\); using .*bin-.*python3 \(python3 on PATH\)/,
    );
    // The CLI's --verbose (taken off by bin/varscope.js) reaches the exporter: torch's warnings then print.
    assert.strictEqual(cli(['export', '--python', good, '--out', 'v', '--verbose']).code, 0);
    assert.deepStrictEqual(fs.readFileSync(record, 'utf8').trim().split('\n'), [
      'good-python -m varscope.export --vae a.pth --var b.pth --out x',
      'env-python -m varscope.export --vae a.pth --var b.pth --out y',
      'good-python -m varscope.export --out z',
      'good-python -m varscope.export --out v --verbose',
    ]);
  });
});
