// The ready → init handshake, the header, in-place errors and webview state.
'use strict';
/* global window, document */
const assert = require('assert');

module.exports = (test) => {
  test('webview emits ready first, sends nothing else before init, then inspects the image', async ({ open, rec }) => {
    const p = await open({ autoInit: false });
    await p.page.waitForFunction(() => window.__fake.posted.length > 0);
    await p.page.waitForTimeout(100);
    const before = await p.page.evaluate(() => window.__fake.posted);
    assert.deepStrictEqual(
      before.map((m) => [m.kind, m.name]),
      [['event', 'ready']],
    );
    assert.strictEqual(await p.page.textContent('.image-name'), 'Waiting for the extension…');
    await p.sendInit();
    await p.page.waitForSelector('.token-grid');
    assert.ok(
      p.calls.some((c) => c.method === 'inspect'),
      'inspect requested after init',
    );
    assert.ok(
      p.calls.some((c) => c.method === 'trainingUsage'),
      'training usage requested (model has hits)',
    );
    assert.strictEqual(await p.page.textContent('.image-name'), rec.imageName);
    assert.strictEqual(await p.page.textContent('.model-name'), rec.model.name);
    assert.strictEqual(await p.page.textContent('.provider'), 'CPU');
    assert.match(await p.page.textContent('.model-shape'), /10 scales · L=680 · V=512/);
  });

  test('a rejected request and an error event are shown in place', async ({ open }) => {
    const p = await open({
      handlers: {
        inspect: async () => {
          throw Object.assign(new Error('not an image'), { code: 'BadImage' });
        },
      },
    });
    await p.page.waitForSelector('.error');
    assert.match(await p.page.textContent('.errors'), /BadImage \(inspect\): not an image/);
    assert.match(await p.page.textContent('#panel-pyramid .placeholder'), /BadImage: not an image/);
    await p.emit('progress', { runId: 'r1', done: 1, total: 3, message: 'Counting codes' });
    await p.page.waitForFunction(() => document.querySelector('.progress').textContent === 'Counting codes 1/3');
    await p.emit('progress', { runId: 'r1', done: 3, total: 3 });
    await p.page.waitForFunction(() => document.querySelector('.progress').textContent === '');
    await p.emit('error', { code: 'EngineCrashed', message: 'engine restarted' });
    await p.page.waitForFunction(() => document.querySelectorAll('.error').length === 2);
    await p.page.click('.error .dismiss');
    assert.strictEqual(await p.page.locator('.error').count(), 1);
  });

  test('a model error shows in the header and nothing is inspected', async ({ open }) => {
    const p = await open({ init: { model: null, modelError: { code: 'ModelNotFound', message: 'no varscope.json' } } });
    await p.page.waitForFunction(() => document.querySelector('.model-name').textContent.includes('no varscope.json'));
    assert.ok(await p.page.locator('.model-name.is-error').count());
    await p.page.waitForTimeout(100);
    assert.ok(!p.calls.some((c) => c.method === 'inspect'));
  });

  test('tab choice is kept in webview state and sent to the host', async ({ open }) => {
    const p = await open();
    await p.page.waitForSelector('.token-grid');
    await p.page.click('#tab-pyramid');
    const tabs = await p.page.$$eval('[role=tab]', (ts) => ts.map((t) => t.id));
    const other = tabs.find((t) => t !== 'tab-pyramid');
    if (other) {
      await p.page.click(`#${other}`);
      const view = other.replace('tab-', '');
      await p.page.waitForFunction((v) => window.__fake.state()?.view === v, view);
      assert.ok(p.calls.some((c) => c.method === 'saveState' && c.params.view === view));
    }
    // A reloaded panel restores the saved tab before init.
    const q = await open({ savedState: { imageUri: null, view: 'pyramid' } });
    await q.page.waitForSelector('#tab-pyramid[aria-selected=true]');
  });

  test('a model change re-inspects the image; a late reply for the old model is dropped', async ({ open, rec }) => {
    let calls = 0;
    const other = rec.comparison.models[1].inspect;
    const p = await open({
      handlers: {
        inspect: async () => {
          calls++;
          if (calls === 1) {
            await new Promise((r) => setTimeout(r, 2500)); // the old model answers late
            return { __recorded: 'inspect' };
          }
          return other;
        },
      },
    });
    await p.page.waitForFunction(() => window.__fake.posted.some((m) => m.method === 'inspect'));
    await p.emit('model', { model: rec.comparison.models[1].model });
    await p.page.waitForFunction(() => window.__fake.posted.filter((m) => m.method === 'inspect').length === 2);
    await p.page.waitForSelector('#panel-pyramid .pyramid-strip .token-grid');
    await p.page.waitForTimeout(3000); // past the late reply
    assert.strictEqual(await p.page.textContent('.model-name'), rec.comparison.models[1].model.name);
    const tokens = await p.page.$$eval('#panel-pyramid .pyramid-strip .token-grid[data-pn="16"] .cell', (cs) =>
      cs.map((c) => +c.getAttribute('data-token')),
    );
    assert.deepStrictEqual(tokens, Array.from(other.scales[9].tokens));
    assert.notDeepStrictEqual(tokens, Array.from(rec.inspect.scales[9].tokens));
  });

  test("the sampler starts from the model's recommended settings, also after a model change", async ({ open, rec }) => {
    const p = await open();
    await p.page.waitForSelector('.token-grid');
    await p.tab('stepThrough');
    const values = () => p.page.$$eval('#panel-stepThrough .controls input[type=number]', (xs) => xs.map((x) => +x.value));
    assert.deepStrictEqual(await values(), [0, rec.model.sampling.cfg, rec.model.sampling.topK, rec.model.sampling.topP]); // seed, cfg, top-k, top-p
    const sampling = { cfg: 3.5, topK: 100, topP: 0.95 };
    await p.emit('model', { model: { ...rec.comparison.models[1].model, sampling } });
    await p.page.waitForFunction(
      (cfg) => [...document.querySelectorAll('#panel-stepThrough .controls input[type=number]')].some((x) => +x.value === cfg),
      sampling.cfg,
    );
    assert.deepStrictEqual(await values(), [0, 3.5, 100, 0.95]);
    await p.page.click('#panel-stepThrough button:has-text("Start")');
    await p.page.waitForFunction(() => window.__fake.posted.some((m) => m.method === 'generationStart'));
    const start = p.calls.find((c) => c.method === 'generationStart');
    assert.deepStrictEqual(
      { cfg: start.params.settings.cfg, topK: start.params.settings.topK, topP: start.params.settings.topP },
      sampling,
    );
  });

  test('sampling settings outside their bounds are refused in the panel, before the host is asked', async ({ open }) => {
    const p = await open();
    await p.page.waitForSelector('.token-grid');
    await p.tab('stepThrough');
    const cfg = p.page.locator('#panel-stepThrough .controls input[type=number]').nth(1);
    assert.strictEqual(await cfg.getAttribute('max'), '100');
    await cfg.fill('1e39');
    await p.page.click('#panel-stepThrough button:has-text("Start")');
    await p.page.waitForFunction(() =>
      /cfg must be a number in \[0, 100\], got 1e\+39/.test(document.querySelector('#panel-stepThrough .gen-status').textContent),
    );
    await p.page.waitForTimeout(300);
    assert.ok(!p.calls.some((c) => c.method === 'generationStart'), 'nothing was sent to the host');
    await cfg.fill('3');
    await p.page.click('#panel-stepThrough button:has-text("Start")');
    await p.page.waitForFunction(() => window.__fake.posted.some((m) => m.method === 'generationStart'));
  });

  test('a panel without an image opens on step-through and inspects nothing', async ({ open }) => {
    const p = await open({ init: { imageName: null, state: { imageUri: null } } });
    await p.page.waitForSelector('#tab-stepThrough[aria-selected=true]');
    assert.strictEqual(await p.page.textContent('.image-name'), 'Generation');
    await p.page.click('#tab-pyramid');
    assert.match(await p.page.textContent('#panel-pyramid .placeholder'), /No image is open/);
    assert.ok(!p.calls.some((c) => c.method === 'inspect'));
  });
};
