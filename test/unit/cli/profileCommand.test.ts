/**
 * `varscope profile` end to end on the fixture bundle: the table on stdout (one row per scale, the last two scales'
 * share), the engine's result as JSON with --json, and one-line refusals of bad flags.
 */
import * as assert from 'assert';
import * as fs from 'fs';
import * as os from 'os';
import * as path from 'path';
import type { ScaleProfile } from '../../../src/shared/results';
import { requireBundle, runCli } from '../fixtures';

describe('CLI profile', function () {
  this.timeout(300000);
  let tmp: string;
  before(() => (tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'varscope-profile-'))));
  after(() => tmp && fs.rmSync(tmp, { recursive: true, force: true }));

  it('prints a row per scale and writes the engine result as JSON', () => {
    const out = path.join(tmp, 'profile.json');
    const r = runCli(['profile', '--model', requireBundle(), '--repeats', '1', '--class', '3', '--json', out, '--provider', 'cpu']);
    assert.strictEqual(r.code, 0, r.stderr);
    const p = JSON.parse(fs.readFileSync(out, 'utf8')) as ScaleProfile;
    assert.strictEqual(p.classId, 3);
    assert.strictEqual(p.teacherForced.image, null); // no --image: the generated sample's tokens
    const lines = r.stdout.split('\n');
    const header = lines.findIndex((l) => l.startsWith('scale ') && l.includes('transformerStep ms'));
    assert.ok(header > 0, r.stdout);
    const rows = lines.slice(header + 1, header + 11).map((l) => l.trim().split(/\s{2,}/));
    assert.deepStrictEqual(
      rows.map((c) => c[0]),
      p.generation.scales.map((s) => `${s.pn}×${s.pn}`),
    );
    const last = rows[9];
    const s = p.generation.scales[9];
    assert.deepStrictEqual(last.slice(1, 3), ['512', s.ms.transformerStep.toFixed(1)]);
    assert.strictEqual(last[last.length - 1], (s.kvBytes / 2 ** 20).toFixed(1));
    assert.ok(r.stdout.includes(`last two scales: ${(p.generation.lastTwoShare.time * 100).toFixed(0)} % of the scales' time`), r.stdout);
  });

  it('refuses bad flags in one line', () => {
    const r = runCli(['profile', '--model', requireBundle(), '--repeats', '0']);
    assert.strictEqual(r.code, 2);
    assert.match(r.stderr, /^varscope profile: --repeats must be >= 1, got 0\n/);
    const missing = runCli(['profile', '--model', requireBundle(), '--image', path.join(tmp, 'none.png'), '--repeats', '1']);
    assert.strictEqual(missing.code, 1);
    assert.strictEqual(missing.stderr.trim().split('\n').length, 1, missing.stderr);
    assert.match(missing.stderr, /none\.png/);
  });
});
