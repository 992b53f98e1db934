/** What the dataset commands say: progress with the time left, the log line and the notifications of a result. */
import * as assert from 'assert';
import { evaluatedMessage, evaluationLogLine, progressMessage, secondsLeft } from '../../../../src/extension/commands/evaluationText';
import { evaluationOf } from '../../shared/evaluationFixture';
import type { BitsDatasetEvaluation } from '../../../../src/shared/evaluation';

const progress = (done: number, total: number, elapsedMs: number, finished = false) => ({
  runId: 'evaluate-1',
  done,
  total,
  failed: 0,
  elapsedMs,
  finished,
});

describe('extension/commands/evaluationText', () => {
  it('estimates the time left from the rate so far; none before the first image', () => {
    assert.strictEqual(secondsLeft(progress(4, 10, 2000)), 3);
    assert.ok(Number.isNaN(secondsLeft(progress(0, 10, 0))));
    assert.strictEqual(secondsLeft(progress(10, 10, 5000)), 0);
  });

  it('says images done, and the time left while running', () => {
    assert.strictEqual(progressMessage(progress(4, 10, 2000)), '4/10 images, about 3 s left');
    assert.strictEqual(progressMessage(progress(0, 10, 0)), '0/10 images');
    assert.strictEqual(progressMessage(progress(10, 10, 5000, true)), '10/10 images');
  });

  it('logs the model, folder, images, time, accuracy and NLL; marks a cancelled run', () => {
    const r = evaluationOf({ step: 900, accuracy: 0.25 });
    assert.strictEqual(evaluationLogLine(r), 'evaluated /models/ckpt-900 on /images: 2 images in 1.2 s, accuracy 25.00 %, NLL 2.000');
    assert.match(evaluationLogLine({ ...r, cancelled: true }), / \(cancelled\)$/);
  });

  it('tells the user the accuracy and the files it could not read', () => {
    const r = evaluationOf({ step: 900, accuracy: 0.25 });
    assert.strictEqual(evaluatedMessage(r), 'VARScope: 2 images evaluated; accuracy 25.0 %.');
    const failed = { ...r, cancelled: true, failed: [{ file: 'x.png', message: 'bad' }] };
    assert.strictEqual(
      evaluatedMessage(failed),
      'VARScope: 2 images evaluated (cancelled); accuracy 25.0 %. 1 files could not be read (see the log).',
    );
  });

  it('an Infinity evaluation: bit and token accuracy in the log line, bit accuracy in the notification', () => {
    const r: BitsDatasetEvaluation = {
      format: 'varscope-evaluation',
      version: 1,
      family: 'infinity',
      model: { id: 'inf', name: 'inf', dir: '/models/inf', step: null },
      folder: '/images',
      labels: { kind: 'captions' },
      bits: 16,
      images: 2,
      failed: [],
      cancelled: false,
      elapsedMs: 1200,
      method: { prediction: '', folderMean: '' },
      scales: [],
      overall: { bitAccuracy: 0.8125, tokenAccuracy: 0.25 },
      perImage: [],
    };
    assert.strictEqual(
      evaluationLogLine(r),
      'evaluated /models/inf on /images: 2 images in 1.2 s, bit accuracy 81.25 %, token accuracy 25.00 %',
    );
    assert.strictEqual(evaluatedMessage(r), 'VARScope: 2 images evaluated; bit accuracy 81.3 %.');
  });
});
