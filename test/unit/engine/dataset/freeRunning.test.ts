/**
 * `evaluate --free-running` against an independent computation: the greedy continuations from every prefix of an
 * image's tokens, by the engine and by the PyTorch reference (python/varscope/model/eval_reference.py --free-running:
 * its own KV-cached CFG generation, argmax, decoder and metrics; on both torches) on the official fixture model, class 3
 * (CFG on).
 */
import * as assert from 'assert';
import { spawn } from 'child_process';
import * as fs from 'fs';
import * as os from 'os';
import * as path from 'path';
import { pythonPackageDir, pythonPathWith } from '../../../../src/client/checkpointExport';
import { Engine } from '../../../../src/engine/engine';
import { prefixForcing } from '../../../../src/engine/dataset/freeRunning';
import type { DatasetEvaluation, FreeRunCurve } from '../../../../src/shared/evaluation';
import type { BundleManifest } from '../../../../src/shared/manifest';
import { freeRunningCsv } from '../../../../src/shared/evaluationCsv';
import { VarScopeError } from '../../../../src/shared/errors';
import { varEvaluationOf } from '../../../../src/shared/modelFamily';
import { BUNDLE_TORCH2, fixture, requireBundle, ROOT } from '../../fixtures';

/** The teacher-forced comparison's tolerances (folderEval.test.ts): one token of a scale, NLL 1e-4, PSNR 1e-3 dB. */
const NLL_TOL = 1e-4;
const PSNR_TOL = 1e-3;

interface Reference {
  freeRunning: { greedy: FreeRunCurve[]; perImage: Array<{ agreement: number[]; psnr: number[] }> };
}

describe('free running from every prefix of an image (official fixture model)', function () {
  this.timeout(1200000);
  let engine: Engine;
  let dir: string;
  let ev: DatasetEvaluation;

  before(async () => {
    dir = fs.mkdtempSync(path.join(os.tmpdir(), 'varscope-free-run-'));
    fs.copyFileSync(fixture('img0.png'), path.join(dir, 'img0.png'));
    engine = new Engine();
    await engine.configure({ provider: 'cpu', threads: 0, maxImagePixels: 1e8 });
    ev = varEvaluationOf(
      await engine.evaluateFolder({
        model: requireBundle(),
        runId: 'free-run',
        folder: dir,
        labels: { kind: 'class', classId: 3 },
        batch: 1,
        freeRunning: { modes: ['greedy'] },
      }),
      'test',
    );
  });
  after(async () => {
    await engine?.dispose();
    if (dir) fs.rmSync(dir, { recursive: true, force: true });
  });

  it('a prefix keeps the image tokens of the coarser scales and lets the model choose every finer one', () => {
    const m = JSON.parse(fs.readFileSync(path.join(requireBundle(), 'varscope.json'), 'utf8')) as BundleManifest;
    const source = m.patchNums.map((pn, k) => Int32Array.from({ length: pn * pn }, (_, i) => (k * 31 + i) % m.vae.vocabSize));
    for (const kept of [1, 5, m.patchNums.length - 1]) {
      const forced = prefixForcing(m, source, kept);
      forced.forEach((f, k) => assert.deepStrictEqual(Array.from(f), k < kept ? Array.from(source[k]) : new Array(f.length).fill(-1)));
    }
  });

  it('says what it ran: greedy, class 3, one continuation per prefix, the true NLL beside from the teacher-forced scales', () => {
    const f = ev.freeRunning!;
    const SN = ev.scales.length;
    assert.deepStrictEqual(f.modes, ['greedy']);
    assert.strictEqual(f.classSource, 'class');
    assert.strictEqual(f.generations, SN - 1);
    assert.deepStrictEqual(f.sampling, { cfg: 4, topK: 900, topP: 0.96, seed: 0 });
    const curves = f.curves.greedy!;
    assert.deepStrictEqual(
      curves.map((c) => [c.kept, c.scales[0].scaleIndex, c.scales.length]),
      Array.from({ length: SN - 1 }, (_, k) => [k + 1, k + 1, SN - 1 - k]),
    );
    for (const c of curves) for (const s of c.scales) assert.strictEqual(s.trueNll, ev.scales[s.scaleIndex].nll);
    assert.strictEqual(f.perImage[0].greedy!.agreement[0], curves[0].scales[SN - 2].agreement);
    assert.deepStrictEqual(
      f.perClass.map((c) => [c.classId, c.images]),
      [[3, 1]],
    );
    assert.strictEqual(freeRunningCsv(ev).trim().split('\n').length, 1 + ((SN - 1) * SN) / 2);
  });

  // The reference on both torches the package supports (PyTorch 1.13 system-wide, 2.x in .venv-torch2 when set up).
  const pythons = [
    { python: '/usr/bin/python3', bundle: requireBundle },
    { python: path.join(ROOT, '.venv-torch2', 'bin', 'python'), bundle: () => requireBundle(BUNDLE_TORCH2) },
  ].filter((p) => fs.existsSync(p.python));
  for (const { python, bundle } of pythons)
    it(`the greedy curves match the PyTorch reference computed independently (${python})`, async () => {
      const list = `${dir}-list.json`;
      const out = `${dir}-ref.json`;
      fs.writeFileSync(list, JSON.stringify(ev.perImage.map((r) => ({ file: r.file, classId: r.classId }))));
      try {
        const args = ['-m', 'varscope.eval_reference', '--bundle', bundle(), '--images', list, '--out', out, '--free-running'];
        args.push('--vae', fixture('vae.pth'), '--var', fixture('var.pth'));
        const p = spawn(python, args, { env: { ...process.env, PYTHONPATH: pythonPathWith(pythonPackageDir(ROOT)) } });
        let stderr = '';
        p.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
        const status = await new Promise<number | null>((resolve) => p.on('close', resolve));
        assert.strictEqual(status, 0, stderr);
        const ref = (JSON.parse(fs.readFileSync(out, 'utf8')) as Reference).freeRunning;
        const near = (a: number, b: number, tol: number, what: string) =>
          assert.ok(Math.abs(a - b) <= tol, `${what}: engine ${a}, reference ${b}`);
        const curves = ev.freeRunning!.curves.greedy!;
        assert.strictEqual(curves.length, ref.greedy.length);
        curves.forEach((c, k) =>
          c.scales.forEach((s, i) => {
            const r = ref.greedy[k].scales[i];
            const at = `kept ${c.kept}, scale ${s.scaleIndex}`;
            assert.strictEqual(s.scaleIndex, r.scaleIndex);
            near(s.agreement, r.agreement, 1 / (ev.images * s.pn * s.pn) + 1e-12, `${at} agreement`);
            near(s.psnr, r.psnr, PSNR_TOL, `${at} psnr`);
            near(s.nll, r.nll, NLL_TOL, `${at} nll of the continuation's tokens`);
            near(s.trueNll, r.trueNll, NLL_TOL, `${at} teacher-forced nll`);
          }),
        );
        ev.freeRunning!.perImage.forEach((row, i) =>
          row.greedy!.agreement.forEach((a, k) => {
            near(a, ref.perImage[i].agreement[k], 1 / 256 + 1e-12, `${row.file} kept ${k + 1} finest agreement`);
            near(row.greedy!.psnr[k], ref.perImage[i].psnr[k], PSNR_TOL, `${row.file} kept ${k + 1} final psnr`);
          }),
        );
      } finally {
        fs.rmSync(list, { force: true });
        fs.rmSync(out, { force: true });
      }
    });

  it('an unknown mode is refused, naming the modes there are', async () => {
    await assert.rejects(
      engine.evaluateFolder({
        model: requireBundle(),
        runId: 'free-run-bad',
        folder: dir,
        labels: { kind: 'none' },
        freeRunning: { modes: ['beam' as 'greedy'] },
      }),
      (e: VarScopeError) => e.code === 'BadRequest' && /some of sampled, greedy, got \["beam"\]/.test(e.message),
    );
  });
});
