/**
 * Saved evaluations, parsed as Open Evaluation reads them: one evaluation or a timeline file's list, anything else a
 * BadRequest naming the file; Save Results' three files, whose JSON parses back to the same evaluation.
 */
import * as assert from 'assert';
import { evaluationFiles, isEvaluation, parseEvaluationFile } from '../../../src/shared/evaluationFile';
import { VarScopeError } from '../../../src/shared/errors';
import type { DatasetEvaluation } from '../../../src/shared/evaluation';
import { TIMELINE_FORMAT, timelineFile } from '../../../src/shared/timelineFile';
import { evaluationOf } from './evaluationFixture';

/** The BadRequest message parsing `text` throws. */
function refused(text: string): string {
  try {
    parseEvaluationFile(text, 'saved.json');
  } catch (e) {
    assert.ok(e instanceof VarScopeError, String(e));
    assert.strictEqual(e.code, 'BadRequest');
    return e.message;
  }
  assert.fail(`parsed: ${text.slice(0, 80)}`);
}

describe('shared/evaluationFile', () => {
  const early = evaluationOf({ step: 100, accuracy: 0.25 });
  const late = evaluationOf({ step: 900, accuracy: 0.5 });

  it('reads one evaluation as a list of one', () => {
    assert.deepStrictEqual(parseEvaluationFile(JSON.stringify(early), 'e.json'), [early]);
  });

  it("reads a timeline file's evaluations in the file's order", () => {
    const text = JSON.stringify(timelineFile([late, early]));
    assert.deepStrictEqual(parseEvaluationFile(text, 't.json'), [late, early]);
  });

  it('refuses text that is not JSON, naming the file', () => {
    assert.match(refused('{"format": "varscope-evaluation",'), /^saved\.json is not a readable JSON file: /);
  });

  it('refuses JSON that is neither an evaluation nor a timeline of them', () => {
    const neither = /^saved\.json is not a VARScope evaluation/;
    for (const data of [
      null,
      42,
      [early],
      { ...early, format: 'varscope-evaluations' },
      { ...early, scales: undefined },
      { ...early, perImage: {} },
      { format: TIMELINE_FORMAT, version: 1, evaluations: [] },
      { format: TIMELINE_FORMAT, version: 1, evaluations: [early, { ...late, format: 'other' }] },
      { format: 'other', version: 1, evaluations: [early] },
      { format: TIMELINE_FORMAT, evaluations: early },
    ])
      assert.match(refused(JSON.stringify(data)), neither, JSON.stringify(data)?.slice(0, 80));
  });

  it('tells an evaluation apart by its format and rows', () => {
    assert.strictEqual(isEvaluation(early), true);
    assert.strictEqual(isEvaluation(timelineFile([early])), false);
    assert.strictEqual(isEvaluation(undefined), false);
  });

  it('saves FILE.json, FILE.csv and FILE-images.csv; the JSON reads back as the same evaluation', () => {
    const files = evaluationFiles(late, '/runs/result.JSON');
    assert.deepStrictEqual(
      files.map((f) => f.file),
      ['/runs/result.json', '/runs/result.csv', '/runs/result-images.csv'],
    );
    assert.ok(files[0].text.endsWith('}\n'));
    assert.deepStrictEqual(parseEvaluationFile(files[0].text, 'result.json'), [late]);
    const [scales, images] = [files[1].text, files[2].text].map((t) => t.trim().split(/\r?\n/));
    assert.strictEqual(scales.length, 1 + late.scales.length, files[1].text);
    assert.match(scales[0], /^scale,pn,/);
    assert.strictEqual(images.length, 1 + late.perImage.length, files[2].text);
    assert.match(images[0], /^file,/);
  });

  it('with free running, also FILE-free-running.csv: one row per mode, prefix and later scale', () => {
    const scales = [{ scaleIndex: 1, pn: 2, agreement: 0.25, psnr: 12.5, nll: 1.5, trueNll: 2.5 }];
    const freeRunning: DatasetEvaluation['freeRunning'] = {
      modes: ['greedy'],
      sampling: { cfg: 3.5, topK: 100, topP: 0.95, seed: 0 },
      classSource: 'unconditional',
      generations: 1,
      curves: { greedy: [{ kept: 1, scales }] },
      perClass: [],
      perImage: [],
    };
    const files = evaluationFiles({ ...late, freeRunning }, 'result');
    assert.deepStrictEqual(
      files.map((f) => f.file),
      ['result.json', 'result.csv', 'result-images.csv', 'result-free-running.csv'],
    );
    assert.deepStrictEqual(files[3].text.trim().split(/\r?\n/), [
      'mode,kept,scale,pn,agreement,psnr,nll,true_nll',
      'greedy,1,1,2,0.25,12.5,1.5,2.5',
    ]);
  });

  it('appends the extensions to a name without .json', () => {
    assert.deepStrictEqual(
      evaluationFiles(late, 'result').map((f) => f.file),
      ['result.json', 'result.csv', 'result-images.csv'],
    );
  });
});
