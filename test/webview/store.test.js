// The webview's store and its actions in plain Node (no browser): updates and listeners, in-place errors, init,
// and every action against a scripted host (latest-wins replies, stale steps, model changes, play).
'use strict';
const assert = require('assert');
const path = require('path');
require('./tsRequire');

const W = path.resolve(__dirname, '../../src/webview');
const { Store, initialState, applyInit, withModelSampling } = require(path.join(W, 'store.ts'));
const actions = require(path.join(W, 'actions.ts'));

const MODEL = { id: 'm', dir: '/models/m', patchNums: [1, 2, 3], sampling: { cfg: 1.5, topK: 10, topP: 0.9 }, hasTrainingHits: false };

/** A host whose replies the test releases by hand: `calls` records every request, `answer`/`fail` settle the oldest of a method. */
function scriptedHost() {
  const calls = [];
  const listeners = new Map();
  return {
    calls,
    call(method, params) {
      return new Promise((resolve, reject) => calls.push({ method, params, resolve, reject }));
    },
    on(name, l) {
      listeners.set(name, l);
      return () => listeners.delete(name);
    },
    emit(name, payload) {
      listeners.get(name)(payload);
    },
    pending(method) {
      return calls.filter((c) => c.method === method && !c.done);
    },
    async answer(method, value, i = 0) {
      const c = this.pending(method)[i];
      c.done = true;
      c.resolve(value);
      await new Promise((r) => setTimeout(r, 0));
    },
    async fail(method, error, i = 0) {
      const c = this.pending(method)[i];
      c.done = true;
      c.reject(error);
      await new Promise((r) => setTimeout(r, 0));
    },
  };
}

const step = (runId, k) => ({ runId, scaleIndex: k, pn: MODEL.patchNums[k], tokens: new Int32Array(MODEL.patchNums[k] ** 2).fill(k) });

module.exports = (test) => {
  test('store: update merges a patch or a function of the state, listeners get (state, prev) until unsubscribed', async () => {
    const store = new Store(initialState());
    const seen = [];
    const off = store.subscribe((s, prev) => seen.push([prev.focusScale, s.focusScale]));
    const before = store.state;
    store.update({ focusScale: 2 });
    store.update((s) => ({ focusScale: s.focusScale + 1 }));
    assert.deepStrictEqual(seen, [
      [0, 2],
      [2, 3],
    ]);
    assert.strictEqual(before.focusScale, 0); // the old state is not mutated
    assert.strictEqual(store.state.inspect, before.inspect); // untouched parts keep their identity (views compare by reference)
    off();
    store.update({ focusScale: 0 });
    assert.strictEqual(seen.length, 2);
  });

  test('store: pushError numbers errors, defaults the code, and stays silent on Cancelled', async () => {
    const store = new Store(initialState());
    store.pushError('inspect', { code: 'BadImage', message: 'not an image' });
    store.pushError('host', new Error('boom'));
    store.pushError('generation', { code: 'Cancelled', message: 'stopped' });
    store.pushError('x', 'plain text');
    assert.deepStrictEqual(store.state.errors, [
      { id: 1, source: 'inspect', code: 'BadImage', message: 'not an image' },
      { id: 2, source: 'host', code: 'Internal', message: 'boom' },
      { id: 3, source: 'x', code: 'Internal', message: 'plain text' },
    ]);
  });

  test('store: init opens an image panel where it was, a generation panel on step-through, with the model’s sampling', async () => {
    const s0 = initialState();
    const img = applyInit(s0, { state: { imageUri: 'file:///a.png' }, imageName: 'a.png', imageSrc: 'src', model: MODEL });
    assert.strictEqual(img.view, 'pyramid');
    assert.strictEqual(img.initialised, true);
    assert.deepStrictEqual(img.generation.settings, { classId: 0, seed: 0, cfg: 1.5, topK: 10, topP: 0.9 });
    const gen = applyInit(s0, { state: { imageUri: null }, imageName: null, imageSrc: null, model: MODEL });
    assert.strictEqual(gen.view, 'stepThrough');
    const saved = { classId: 5, seed: 9, cfg: 3, topK: 1, topP: 1 };
    const restored = applyInit(s0, {
      state: { imageUri: null, view: 'codebook', generation: saved },
      imageName: null,
      imageSrc: null,
      model: MODEL,
    });
    assert.strictEqual(restored.view, 'codebook');
    assert.deepStrictEqual(restored.generation.settings, saved); // the user's last settings beat the model's
    const running = { ...s0.generation, runId: 'r1' };
    assert.strictEqual(withModelSampling(running, { model: MODEL, bitsModel: null }), running); // a run keeps its settings
  });

  test('store: the caption defaults to the features beside the image; a caption saved before a reload stays', async () => {
    const s0 = initialState();
    const init = (state, beside) => applyInit(s0, { state, imageName: 'a.png', imageSrc: null, model: MODEL, captionBesideImage: beside });
    const found = init({ imageUri: 'file:///d/a.png' }, '/d/a.npy');
    assert.deepStrictEqual(found.panel.caption, { featuresFile: '/d/a.npy' });
    assert.strictEqual(found.captionBesideImage, '/d/a.npy');
    assert.strictEqual(init({ imageUri: 'file:///d/a.png' }, null).panel.caption, undefined);
    const saved = init({ imageUri: 'file:///d/a.png', caption: { prompt: 'a cat' } }, '/d/a.npy');
    assert.deepStrictEqual(saved.panel.caption, { prompt: 'a cat' });
  });

  test('actions: a new caption drops the evaluation made with the old one, and its late reply; the dialog sets a file', async () => {
    const store = new Store(initialState());
    const host = scriptedHost();
    const old = actions.load(store, host, 'evaluateBits', { text: { featuresFile: '/d/a.npy' } });
    actions.setCaption(store, { prompt: 'a dog' });
    assert.deepStrictEqual(store.state.panel.caption, { prompt: 'a dog' });
    assert.deepStrictEqual(store.state.bitsEvaluation, { status: 'idle' });
    await host.answer('evaluateBits', { schedule: 'old' });
    await old;
    assert.deepStrictEqual(store.state.bitsEvaluation, { status: 'idle' }); // the old caption's reply is dropped
    const done = actions.load(store, host, 'evaluateBits', { text: { prompt: 'a dog' } });
    await host.answer('evaluateBits', { schedule: 'new' });
    await done;
    const ready = store.state.bitsEvaluation;
    assert.deepStrictEqual(ready, { status: 'ready', value: { schedule: 'new' } });
    actions.setCaption(store, { prompt: 'a dog' }); // the same caption again changes nothing
    assert.strictEqual(store.state.bitsEvaluation, ready);
    const cancelled = actions.chooseCaptionFile(store, host);
    await host.answer('chooseTextFeatures', null);
    await cancelled;
    assert.deepStrictEqual(store.state.panel.caption, { prompt: 'a dog' });
    const chosen = actions.chooseCaptionFile(store, host);
    await host.answer('chooseTextFeatures', '/d/b.safetensors');
    await chosen;
    assert.deepStrictEqual(store.state.panel.caption, { featuresFile: '/d/b.safetensors' });
    actions.setCaption(store, null);
    assert.strictEqual('caption' in store.state.panel, false);
  });

  test('actions: counting a folder asks for it, shows its counts, drops a cancelled run’s events, and ends on error', async () => {
    const store = new Store(initialState());
    const host = scriptedHost();
    actions.bindHostEvents(store, host, () => undefined);
    const cancelledDialog = actions.countFolder(store, host);
    await host.answer('chooseImageFolder', null);
    await cancelledDialog;
    assert.deepStrictEqual([store.state.folderRun, host.pending('folderUsage').length], [null, 0]);
    const first = actions.countFolder(store, host);
    await host.answer('chooseImageFolder', '/data/a');
    const run1 = store.state.folderRun;
    assert.deepStrictEqual(
      [store.state.codebookSource, host.pending('folderUsage')[0].params],
      ['folder', { runId: run1, folder: '/data/a' }],
    );
    const usage = (images) => ({ kind: 'bits', images });
    host.emit('folderUsage', { runId: run1, usage: usage(1), done: 1, total: 4, finished: false });
    assert.deepStrictEqual(store.state.folderUsage.usage, usage(1));
    // A second count cancels the first; the first's late events are dropped.
    const second = actions.countFolder(store, host);
    await host.answer('chooseImageFolder', '/data/b');
    const run2 = store.state.folderRun;
    assert.notStrictEqual(run2, run1);
    assert.deepStrictEqual(host.pending('cancel')[0].params, { runId: run1 });
    assert.strictEqual(store.state.folderUsage, null);
    host.emit('folderUsage', { runId: run1, usage: usage(2), done: 2, total: 4, finished: false });
    assert.strictEqual(store.state.folderUsage, null);
    host.emit('folderUsage', { runId: run2, usage: usage(3), done: 3, total: 3, finished: true });
    await host.answer('folderUsage', { images: 1, failed: 0, cancelled: true }, 0);
    await first;
    assert.strictEqual(store.state.folderRun, run2); // the first run's end leaves the second running
    await host.fail('folderUsage', { code: 'BadImage', message: 'no image files under /data/b' });
    await second;
    assert.deepStrictEqual([store.state.folderRun, store.state.folderUsage.usage], [null, usage(3)]);
    assert.deepStrictEqual(
      store.state.errors.map((e) => [e.source, e.message]),
      [['folderUsage', 'no image files under /data/b']],
    );
  });

  test('actions: load keeps the newest reply only, and shows errors in place', async () => {
    const store = new Store(initialState());
    const host = scriptedHost();
    const first = actions.load(store, host, 'evaluate', { classId: 1 });
    assert.strictEqual(store.state.evaluation.status, 'loading');
    const second = actions.load(store, host, 'evaluate', { classId: 2 });
    await host.answer('evaluate', { classId: 2 }, 1);
    await host.answer('evaluate', { classId: 1 }, 0); // overtaken: dropped
    await Promise.all([first, second]);
    assert.deepStrictEqual(store.state.evaluation, { status: 'ready', value: { classId: 2 } });
    const third = actions.load(store, host, 'inspect', {});
    await host.fail('inspect', { code: 'BadImage', message: 'truncated PNG' });
    await third;
    assert.deepStrictEqual(store.state.inspect, { status: 'error', error: { code: 'BadImage', message: 'truncated PNG' } });
    // An Infinity model's inspection lands in the bits slot, narrowed once; the VAR slot keeps what it had.
    const bits = { family: 'infinity', schedule: 'hw0.750-0.06M', scales: [] };
    const fourth = actions.load(store, host, 'inspect', {});
    await host.answer('inspect', bits);
    await fourth;
    assert.deepStrictEqual(store.state.bitsInspect, { status: 'ready', value: bits });
    assert.deepStrictEqual(store.state.inspect, { status: 'idle' });
    assert.deepStrictEqual(
      store.state.errors.map((e) => [e.source, e.code]),
      [['inspect', 'BadImage']],
    );
    // The edit lands inside the edit state; the extra patch goes with the loading update.
    const edit = actions.load(store, host, 'edit', { scaleIndex: 1 }, (s) => ({ focusScale: s.focusScale + 2 }));
    assert.strictEqual(store.state.edit.result.status, 'loading');
    assert.strictEqual(store.state.focusScale, 2);
    await host.answer('edit', { tokens: [] });
    await edit;
    assert.deepStrictEqual(store.state.edit.result, { status: 'ready', value: { tokens: [] } });
    assert.deepStrictEqual(
      host.calls.map((c) => [c.method, c.params]),
      [
        ['evaluate', { classId: 1 }],
        ['evaluate', { classId: 2 }],
        ['inspect', {}],
        ['inspect', {}],
        ['edit', { scaleIndex: 1 }],
      ],
    );
  });

  test('actions: a generation starts (cancelling the last), steps forward from the host, back from memory; stale steps drop', async () => {
    const store = new Store({ ...initialState(), model: MODEL });
    const host = scriptedHost();
    store.update((s) => ({ generation: { ...s.generation, runId: 'old' } }));
    const settings = { classId: 4, seed: 1, cfg: 2, topK: 5, topP: 0.5 };
    const started = actions.startGeneration(store, host, settings);
    assert.deepStrictEqual(host.calls[0].params, { runId: 'old' });
    assert.strictEqual(host.calls[0].method, 'cancel');
    await host.answer('generationStart', { runId: 'r1' });
    assert.deepStrictEqual(host.pending('generationStep')[0].params, { runId: 'r1', scaleIndex: 0 });
    await host.answer('generationStep', step('r1', 0));
    await started;
    assert.strictEqual(store.state.generation.cursor, 0);
    assert.deepStrictEqual(store.state.panel.generation, settings);
    actions.acceptStep(store, step('stale', 1)); // another run's event
    assert.strictEqual(store.state.generation.steps.length, 1);
    actions.acceptStep(store, step('r1', 1)); // the event of the next scale, before the reply
    const next = actions.stepGeneration(store, host);
    assert.strictEqual(host.pending('generationStep').length, 0); // already here: no request
    assert.strictEqual(await next, true);
    assert.deepStrictEqual([store.state.generation.cursor, store.state.focusScale], [1, 1]);
    const last = actions.stepGeneration(store, host);
    await host.answer('generationStep', step('r1', 2));
    assert.strictEqual(await last, true);
    assert.strictEqual(await actions.stepGeneration(store, host), false); // past the last scale
    assert.strictEqual(await actions.stepGeneration(store, host, 0), true);
    assert.strictEqual(store.state.generation.cursor, 0);
    assert.strictEqual(store.state.generation.steps.length, 3);
  });

  test('actions: a start that replies after a newer start, or after the model changed, has its run cancelled and shown nowhere', async () => {
    const store = new Store({ ...initialState(), model: MODEL });
    const host = scriptedHost();
    actions.bindHostEvents(store, host, () => undefined);
    const settings = { classId: 4, seed: 1, cfg: 2, topK: 5, topP: 0.5 };
    const first = actions.startGeneration(store, host, settings);
    const second = actions.startGeneration(store, host, { ...settings, seed: 2 });
    await host.answer('generationStart', { runId: 'slow' }); // the first start's reply comes after the second began
    await first;
    assert.deepStrictEqual(
      host.calls.filter((c) => c.method === 'cancel').map((c) => c.params),
      [{ runId: 'slow' }],
    );
    await host.answer('generationStart', { runId: 'r2' });
    await host.answer('generationStep', step('r2', 0));
    await second;
    assert.strictEqual(store.state.generation.runId, 'r2');
    // a start still opening when the model changes belongs to the old model
    const third = actions.startGeneration(store, host, { ...settings, seed: 3 });
    host.emit('model', { model: { ...MODEL, id: 'other', dir: '/models/other' } });
    await host.answer('generationStart', { runId: 'orphan' });
    await third;
    assert.ok(host.calls.some((c) => c.method === 'cancel' && c.params.runId === 'orphan'));
    assert.strictEqual(store.state.generation.runId, null);
    assert.strictEqual(host.pending('generationStep').length, 0);
  });

  test('actions: an Infinity model fills its sampler per scale from its sampling; a run keeps the form it started with, its steps bits', async () => {
    const store = new Store(initialState());
    const host = scriptedHost();
    actions.bindHostEvents(store, host, () => undefined);
    const bitsModel = {
      family: 'infinity',
      id: 'inf',
      dir: '/bundles/inf',
      bits: 4,
      schedules: [
        {
          id: 'hw1.000-0.06M',
          hDivW: 1,
          scales: [
            [1, 1],
            [2, 2],
            [4, 4],
          ],
        },
        {
          id: 'hw0.500-0.06M',
          hDivW: 0.5,
          scales: [
            [1, 1],
            [1, 2],
          ],
        },
      ],
      sampling: { cfg: 4, tau: 0.5, topK: 900, topP: 0.97, cfgInsertionLayer: 0 },
    };
    host.emit('init', { state: { imageUri: null }, imageName: null, imageSrc: null, model: bitsModel });
    assert.deepStrictEqual(store.state.generation.bitSettings, {
      hDivW: 1,
      seed: 0,
      cfgList: [4, 4, 4],
      tauList: [0.5, 0.5, 0.5],
      topK: 900,
      topP: 0.97,
    });
    const text = { featuresFile: '/d/cat.npy' };
    const settings = { family: 'infinity', text, hDivW: 0.5, seed: 3, cfgList: [1, 3], tauList: [1, 1], topK: 1, topP: 0 };
    // a list of the wrong length for the chosen ratio's schedule is refused in the panel
    await actions.startGeneration(store, host, { ...settings, cfgList: [1, 3, 3] });
    assert.deepStrictEqual(store.state.generation.error, {
      code: 'BadRequest',
      message: 'cfgList has 3 values, the schedule has 2 scales',
    });
    assert.strictEqual(host.calls.length, 0);
    const started = actions.startGeneration(store, host, settings);
    assert.deepStrictEqual(host.pending('generationStart')[0].params, { settings });
    await host.answer('generationStart', { runId: 'b1' });
    const bitsStep = (k) => ({ family: 'infinity', runId: 'b1', scaleIndex: k, h: 1, w: k + 1, bits: new Uint8Array(4 * (k + 1)) });
    await host.answer('generationStep', bitsStep(0));
    await started;
    assert.deepStrictEqual(store.state.generation.bitSettings, { hDivW: 0.5, seed: 3, cfgList: [1, 3], tauList: [1, 1], topK: 1, topP: 0 });
    assert.strictEqual(store.state.panel.generation, undefined); // VAR's saved settings are not an Infinity run's
    assert.deepStrictEqual(store.state.panel.bitGeneration, store.state.generation.bitSettings); // kept for a reload
    // after a reload the saved form comes back (its lists fit its ratio's schedule); one that no longer fits does not
    const reload = (bitGeneration) =>
      applyInit(initialState(), { state: { imageUri: null, bitGeneration }, imageName: null, imageSrc: null, model: bitsModel }).generation
        .bitSettings;
    assert.deepStrictEqual(reload(store.state.panel.bitGeneration), store.state.generation.bitSettings);
    assert.deepStrictEqual(reload({ ...store.state.panel.bitGeneration, hDivW: 1 }).cfgList, [4, 4, 4]);
    host.emit('generationStep', bitsStep(1));
    assert.strictEqual(await actions.stepGeneration(store, host), true); // already here
    assert.strictEqual(await actions.stepGeneration(store, host), false); // 2 scales at h:w 0.5
    assert.deepStrictEqual(
      store.state.generation.steps.map((s) => [s.family, s.w]),
      [
        ['infinity', 1],
        ['infinity', 2],
      ],
    );
  });

  test('actions: a failed step stops play and shows the error; a new model drops the old results and run', async () => {
    const store = new Store(initialState());
    const host = scriptedHost();
    let inits = 0;
    actions.bindHostEvents(store, host, () => inits++);
    host.emit('init', { state: { imageUri: 'file:///a.png' }, imageName: 'a.png', imageSrc: null, model: MODEL });
    assert.strictEqual(inits, 1);
    store.update((s) => ({
      generation: { ...s.generation, runId: 'r1', steps: [step('r1', 0)], cursor: 0 },
      inspect: { status: 'ready', value: {} },
    }));
    const play = actions.playGeneration(store, host, 0);
    assert.strictEqual(store.state.generation.playing, true);
    await host.fail('generationStep', { code: 'Inference', message: 'out of memory' });
    await play;
    assert.strictEqual(store.state.generation.playing, false);
    assert.deepStrictEqual(store.state.generation.error, { code: 'Inference', message: 'out of memory' });
    // Only the provider changed: results stay.
    host.emit('model', { model: { ...MODEL, provider: 'webgpu' } });
    assert.strictEqual(store.state.inspect.status, 'ready');
    assert.strictEqual(inits, 1);
    host.emit('model', { model: { ...MODEL, id: 'other', dir: '/models/other' } });
    assert.strictEqual(store.state.inspect.status, 'idle');
    assert.strictEqual(store.state.generation.runId, null);
    assert.deepStrictEqual(host.pending('cancel')[0].params, { runId: 'r1' });
    assert.strictEqual(inits, 2);
    // Folder counts: a lower `done` of the same run is a late message.
    host.emit('folderUsage', { runId: 'f', done: 5, total: 9, finished: false });
    host.emit('folderUsage', { runId: 'f', done: 3, total: 9, finished: false });
    assert.strictEqual(store.state.folderUsage.done, 5);
    host.emit('error', { code: 'EngineCrashed', message: 'engine restarted' });
    assert.strictEqual(store.state.errors.at(-1).code, 'EngineCrashed');
  });

  test('actions: a grid is a run of its own id; progress counts its samples; a cancel keeps the last result; late answers drop', async () => {
    const store = new Store(initialState());
    const host = scriptedHost();
    actions.bindHostEvents(store, host, () => undefined);
    const req = { classes: [0, 1], settings: [{ cfg: 1.5, topK: 9, topP: 0.9 }], samples: 3, seed: 0 };
    // The first grid: 2 classes × 3 samples, done.
    const first = actions.runSamplingGrid(store, host, req);
    const id1 = host.pending('samplingGrid')[0].params.runId;
    assert.match(id1, /^grid-/);
    assert.deepStrictEqual(host.pending('samplingGrid')[0].params, { ...req, runId: id1 });
    assert.deepStrictEqual(store.state.samplingRun, { runId: id1, done: 0, total: 6, state: 'running' });
    host.emit('progress', { runId: id1, done: 4, total: 6, message: 'Sampling the grid' });
    host.emit('progress', { runId: id1, done: 2, total: 6, message: 'Sampling the grid' }); // late
    host.emit('progress', { runId: 'folder-1', done: 1, total: 50 }); // another run's
    assert.deepStrictEqual(store.state.samplingRun, { runId: id1, done: 4, total: 6, state: 'running' });
    assert.strictEqual(store.state.progress.runId, 'folder-1');
    await host.answer('samplingGrid', { grid: 1 });
    await first;
    assert.deepStrictEqual(store.state.samplingGrid, { status: 'ready', value: { grid: 1 } });
    assert.strictEqual(store.state.samplingRun, null);

    // The second: cancelled after one sample. The first result stays, the host is asked to stop this run.
    const second = actions.runSamplingGrid(store, host, req);
    const id2 = host.pending('samplingGrid')[0].params.runId;
    assert.notStrictEqual(id2, id1);
    assert.deepStrictEqual(store.state.samplingGrid, { status: 'loading', value: { grid: 1 } });
    // While it runs, another Sample asks nothing.
    await actions.runSamplingGrid(store, host, req);
    assert.strictEqual(host.pending('samplingGrid').length, 1);
    host.emit('progress', { runId: id2, done: 1, total: 6, message: 'Sampling the grid' });
    assert.strictEqual(store.state.progress.runId, id2);
    void actions.cancelSamplingGrid(store, host); // the host's answer to cancel is not awaited here
    assert.deepStrictEqual(host.pending('cancel')[0].params, { runId: id2 });
    assert.deepStrictEqual(store.state.samplingRun, { runId: id2, done: 1, total: 6, state: 'cancelled' });
    assert.deepStrictEqual(store.state.samplingGrid, { status: 'ready', value: { grid: 1 } });
    assert.strictEqual(store.state.progress, null);
    host.emit('progress', { runId: id2, done: 2, total: 6, message: 'Sampling the grid' });
    assert.strictEqual(store.state.samplingRun.done, 1);
    await host.fail('samplingGrid', { code: 'Cancelled', message: 'sampling grid cancelled' });
    await second;
    assert.deepStrictEqual(store.state.samplingGrid, { status: 'ready', value: { grid: 1 } });
    assert.strictEqual(store.state.errors.length, 0);

    // The third fails: the error shows, with the first result still there; then a grid stopped by the host (Cancelled).
    const third = actions.runSamplingGrid(store, host, req);
    await host.fail('samplingGrid', { code: 'Inference', message: 'out of memory' });
    await third;
    assert.deepStrictEqual(store.state.samplingGrid, {
      status: 'error',
      error: { code: 'Inference', message: 'out of memory' },
      value: { grid: 1 },
    });
    assert.strictEqual(store.state.samplingRun, null);
    const fourth = actions.runSamplingGrid(store, host, req);
    const id4 = host.pending('samplingGrid')[0].params.runId;
    await host.fail('samplingGrid', { code: 'Cancelled', message: 'engine stopped' });
    await fourth;
    assert.deepStrictEqual(store.state.samplingRun, { runId: id4, done: 0, total: 6, state: 'cancelled' });
    assert.deepStrictEqual(store.state.samplingGrid, { status: 'ready', value: { grid: 1 } });
  });

  test('actions: a model change cancels the running grid', async () => {
    const store = new Store(initialState());
    const host = scriptedHost();
    actions.bindHostEvents(store, host, () => undefined);
    host.emit('init', { state: { imageUri: null }, imageName: null, imageSrc: null, model: MODEL });
    void actions.runSamplingGrid(store, host, { classes: [0], settings: [{ cfg: 1, topK: 1, topP: 1 }], samples: 1, seed: 0 });
    const runId = host.pending('samplingGrid')[0].params.runId;
    host.emit('model', { model: { ...MODEL, id: 'other', dir: '/models/other' } });
    assert.deepStrictEqual(host.pending('cancel')[0].params, { runId });
    assert.strictEqual(store.state.samplingRun.state, 'cancelled');
    assert.deepStrictEqual(store.state.samplingGrid, { status: 'idle' });
  });
};
