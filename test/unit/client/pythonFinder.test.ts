/**
 * Which Python exports checkpoints: the order (explicit, the editor's interpreter, python3 on PATH,
 * /usr/bin/python3), the first with torch >= 1.13 and onnx wins, and every skip has its reason. The candidates
 * are fake interpreters: shell scripts that print what a real probe would, or fail.
 */
import * as assert from 'assert';
import * as fs from 'fs';
import * as os from 'os';
import * as path from 'path';
import { VarScopeError } from '../../../src/shared/errors';
import { findPython, probePython, pythonCandidates, versionAtLeast } from '../../../src/client/pythonFinder';

describe('python finder', function () {
  this.timeout(60000);
  let tmp: string;

  /** A fake interpreter printing `body` (a shell script fragment). */
  const fake = (name: string, body: string): string => {
    const file = path.join(tmp, name);
    fs.writeFileSync(file, `#!/bin/sh\n${body}\n`, { mode: 0o755 });
    return file;
  };
  const answer = (info: Record<string, string>) =>
    `echo 'VARSCOPE_PROBE ${JSON.stringify({ python: '3.11.2', executable: '/x', ...info })}'`;

  before(() => {
    tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'varscope-python-'));
  });
  after(() => fs.rmSync(tmp, { recursive: true, force: true }));

  it('takes the first candidate with torch >= 1.13 and onnx, logging why each earlier one was skipped', async () => {
    const broken = fake('broken', 'echo "cannot start: libpython missing" >&2; exit 127');
    const noTorch = fake('notorch', answer({ torchError: 'ModuleNotFoundError: No module named torch' }));
    const oldTorch = fake('oldtorch', answer({ torch: '1.12.1+cu113', onnx: '1.12.0' }));
    const noOnnx = fake('noonnx', answer({ torch: '2.1.0', onnxError: 'ModuleNotFoundError: No module named onnx' }));
    const good = fake('good', answer({ torch: '1.13.0a0', onnx: '1.12.0' }));
    const later = fake('later', answer({ torch: '2.4.0', onnx: '1.16.0' }));
    const log: string[] = [];
    const choice = await findPython(
      [broken, path.join(tmp, 'missing'), noTorch, oldTorch, noOnnx, good, later].map((command, i) => ({
        command,
        source: `candidate ${i}`,
      })),
      { log: (l) => log.push(l) },
    );
    assert.strictEqual(choice.found.command, good);
    assert.strictEqual(choice.found.torch, '1.13.0a0');
    assert.deepStrictEqual(
      choice.probes.map((p) => p.ok),
      [false, false, false, false, false, true],
      'the candidate after the winner is never probed',
    );
    assert.match(choice.probes[0].reason!, /did not run \(cannot start: libpython missing\)/);
    assert.strictEqual(choice.probes[1].reason, 'not found');
    assert.match(choice.probes[2].reason!, /no torch \(ModuleNotFoundError: No module named torch\)/);
    assert.match(choice.probes[3].reason!, /torch 1\.12\.1\+cu113 is older than 1\.13/);
    assert.match(choice.probes[4].reason!, /has torch 2\.1\.0 but no onnx/);
    assert.strictEqual(log.length, 6);
    assert.match(
      log[5],
      new RegExp(`Python for export: ${good} \\(candidate 5; Python 3\\.11\\.2, torch 1\\.13\\.0a0, onnx 1\\.12\\.0\\)`),
    );
    assert.match(log[3], /skipped Python .*oldtorch \(candidate 3\): torch 1\.12\.1/);
  });

  it('orders the setting, the editor interpreter, python3 on PATH, then /usr/bin/python3', () => {
    const binA = fs.mkdtempSync(path.join(tmp, 'binA-'));
    const binB = fs.mkdtempSync(path.join(tmp, 'binB-'));
    fs.writeFileSync(path.join(binB, 'python3'), '#!/bin/sh\n', { mode: 0o755 });
    fs.writeFileSync(path.join(binA, 'python3'), 'not executable', { mode: 0o644 });
    const setting = fake('from-setting', 'exit 1');
    const editor = fake('from-editor', 'exit 1');
    const list = pythonCandidates({
      explicit: { command: setting, source: 'varscope.pythonPath setting' },
      editor: { command: editor, source: 'Python extension' },
      envPath: [binA, binB].join(path.delimiter),
    });
    assert.deepStrictEqual(
      list.map((c) => [c.command, c.source]),
      [
        [setting, 'varscope.pythonPath setting'],
        [editor, 'Python extension'],
        [path.join(binB, 'python3'), 'python3 on PATH'],
        ['/usr/bin/python3', '/usr/bin/python3'],
      ],
    );
    // Nothing chosen, nothing on PATH: only the last resort.
    assert.deepStrictEqual(
      pythonCandidates({ envPath: binA }).map((c) => c.command),
      ['/usr/bin/python3'],
    );
  });

  it('probes each interpreter once, even when reached twice', () => {
    const list = pythonCandidates({ explicit: { command: '/usr/bin/python3', source: 'setting' }, envPath: '' });
    assert.deepStrictEqual(
      list.map((c) => c.source),
      ['setting'],
    );
  });

  it('gives up on a candidate that hangs', async () => {
    const hangs = fake('hangs', 'exec sleep 30');
    const t0 = Date.now();
    const p = await probePython({ command: hangs, source: 'test' }, 500);
    assert.strictEqual(p.ok, false);
    assert.match(p.reason!, /did not answer within/);
    assert.ok(Date.now() - t0 < 20000);
  });

  it('says what to install and names the setting when no candidate fits', async () => {
    const noTorch = fake('notorch2', answer({ torchError: 'ModuleNotFoundError' }));
    await assert.rejects(
      findPython([{ command: noTorch, source: 'python3 on PATH' }]),
      (e: unknown) =>
        e instanceof VarScopeError &&
        /pip install torch onnx/.test(e.message) &&
        /varscope\.pythonPath/.test(e.message) &&
        /notorch2 \(python3 on PATH\): Python 3\.11\.2 has no torch/.test(e.detail ?? ''),
    );
  });

  it('compares versions by major and minor', () => {
    assert.ok(versionAtLeast('1.13.0a0', [1, 13]));
    assert.ok(versionAtLeast('2.0.1+cu118', [1, 13]));
    assert.ok(!versionAtLeast('1.9.0', [1, 13]));
    assert.ok(!versionAtLeast('garbage', [1, 13]));
  });

  it('accepts the real /usr/bin/python3 of this machine', async () => {
    const p = await probePython({ command: '/usr/bin/python3', source: '/usr/bin/python3' }, 60000);
    assert.strictEqual(p.ok, true, p.reason);
    assert.ok(versionAtLeast(p.torch!, [1, 13]));
  });
});
