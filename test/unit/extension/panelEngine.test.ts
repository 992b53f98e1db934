/**
 * Routing between panels and the engine: a grid's progress reaches the panel that started it only; Cancel stops the
 * panel's own runs; `inspect` goes to the engine request of the current model's family.
 */
import * as assert from 'assert';
import type { EngineClient } from '../../../src/client/engineClient';
import { PanelEngine, type PanelContext } from '../../../src/extension/panelEngine';
import type { HostEvents } from '../../../src/shared/protocol';
import type { SamplingGridRequest } from '../../../src/shared/samplingGrid';

/** An engine client whose calls the test settles by hand, and whose events it emits. */
function fakeClient() {
  const listeners = new Map<string, (payload: unknown) => void>();
  const calls: Array<{ method: string; params: Record<string, unknown>; resolve(v: unknown): void }> = [];
  const cancelled: string[] = [];
  const client = {
    restartCount: 0,
    on(name: string, l: (payload: unknown) => void) {
      listeners.set(name, l);
      return () => listeners.delete(name);
    },
    call(method: string, params: Record<string, unknown>) {
      return new Promise((resolve) => calls.push({ method, params, resolve }));
    },
    async cancel(runId: string) {
      cancelled.push(runId);
    },
  };
  const emit = (name: string, payload: unknown) => listeners.get(name)!(payload);
  return { client: client as unknown as EngineClient, calls, cancelled, emit };
}

/** A panel that records the events pushed to it. */
function panel(): PanelContext & { events: Array<[string, unknown]> } {
  const events: Array<[string, unknown]> = [];
  return {
    imageUri: null,
    state: { imageUri: null },
    events,
    emit<E extends keyof HostEvents>(name: E, payload: HostEvents[E]) {
      events.push([name, payload]);
    },
  };
}

const GRID: SamplingGridRequest = { classes: [1], settings: [{ cfg: 1.5, topK: 900, topP: 0.96 }], samples: 2, seed: 0 };
const settle = () => new Promise((r) => setTimeout(r, 0));

describe('extension/panelEngine', () => {
  it("forwards a grid's samplingGrid events to its own panel as progress, and none after the grid ends", async () => {
    const f = fakeClient();
    const engine = new PanelEngine(f.client, async () => '/models/m');
    const [a, b] = [panel(), panel()];
    const grid = engine.handlers(a).samplingGrid({ ...GRID, runId: 'grid-a' });
    await settle();
    assert.strictEqual(f.calls[0].method, 'samplingGrid');
    assert.deepStrictEqual(f.calls[0].params, { model: '/models/m', ...GRID, runId: 'grid-a' });
    f.emit('samplingGrid', { runId: 'grid-a', done: 1, total: 2 });
    f.emit('samplingGrid', { runId: 'grid-other', done: 1, total: 9 });
    assert.deepStrictEqual(a.events, [['progress', { runId: 'grid-a', done: 1, total: 2, message: 'Sampling the grid' }]]);
    assert.deepStrictEqual(b.events, []);
    f.calls[0].resolve({ settings: [] });
    assert.deepStrictEqual(await grid, { settings: [] });
    f.emit('samplingGrid', { runId: 'grid-a', done: 2, total: 2 });
    assert.strictEqual(a.events.length, 1);
    engine.dispose();
  });

  it("cancel reaches the engine for the panel's own run only; a grid cancelled while the model opens never starts", async () => {
    const f = fakeClient();
    let open: (dir: string) => void = () => undefined;
    const engine = new PanelEngine(f.client, () => new Promise((r) => (open = r)));
    const [a, b] = [panel(), panel()];
    const grid = engine.handlers(a).samplingGrid({ ...GRID, runId: 'grid-a' });
    await engine.handlers(b).cancel({ runId: 'grid-a' });
    assert.deepStrictEqual(f.cancelled, [], "another panel's cancel");
    await engine.handlers(a).cancel({ runId: 'grid-a' });
    assert.deepStrictEqual(f.cancelled, ['grid-a']);
    open('/models/m');
    await assert.rejects(grid, { code: 'Cancelled' });
    assert.strictEqual(f.calls.length, 0);
    // Over: a second cancel of it does nothing.
    await engine.handlers(a).cancel({ runId: 'grid-a' });
    assert.deepStrictEqual(f.cancelled, ['grid-a']);
    engine.dispose();
  });

  it('a running grid is cancelled in the engine by its Cancel and when its panel closes; its run id is its own', async () => {
    const f = fakeClient();
    const engine = new PanelEngine(f.client, async () => '/models/m');
    const a = panel();
    const first = engine.handlers(a).samplingGrid({ ...GRID, runId: 'grid-1' });
    await settle();
    await assert.rejects(engine.handlers(panel()).samplingGrid({ ...GRID, runId: 'grid-1' }), {
      code: 'BadRequest',
      message: /already running/,
    });
    await engine.handlers(a).cancel({ runId: 'grid-1' });
    assert.deepStrictEqual(f.cancelled, ['grid-1']);
    f.calls[0].resolve(null);
    await first;
    void engine.handlers(a).samplingGrid({ ...GRID, runId: 'grid-2' });
    await settle();
    engine.panelClosed(a);
    assert.deepStrictEqual(f.cancelled, ['grid-1', 'grid-2']);
    f.emit('samplingGrid', { runId: 'grid-2', done: 1, total: 2 });
    assert.deepStrictEqual(a.events, []);
    engine.dispose();
  });

  it("a folder count streams its folderUsage events to its panel only, is the panel's to cancel, and says when no image counted", async () => {
    const f = fakeClient();
    const engine = new PanelEngine(f.client, async () => '/models/m');
    const [a, b] = [panel(), panel()];
    const count = engine.handlers(a).folderUsage({ runId: 'folder-1', folder: '/data/images' });
    await settle();
    assert.deepStrictEqual(
      [f.calls[0].method, f.calls[0].params],
      ['folderUsage', { model: '/models/m', runId: 'folder-1', folder: '/data/images' }],
    );
    const usage = { kind: 'bits', images: 1 };
    f.emit('folderUsage', { runId: 'folder-1', usage, done: 1, total: 3, finished: false, failed: 0 });
    assert.deepStrictEqual(a.events, [['folderUsage', { runId: 'folder-1', usage, done: 1, total: 3, finished: false }]]);
    assert.deepStrictEqual(b.events, []);
    await engine.handlers(b).cancel({ runId: 'folder-1' });
    assert.deepStrictEqual(f.cancelled, []);
    await engine.handlers(a).cancel({ runId: 'folder-1' });
    assert.deepStrictEqual(f.cancelled, ['folder-1']);
    f.calls[0].resolve({ usage: { ...usage, images: 2 }, failed: [{ file: 'x.png', message: 'bad' }], cancelled: false });
    assert.deepStrictEqual(await count, { images: 2, failed: 1, cancelled: false });
    const none = engine.handlers(a).folderUsage({ runId: 'folder-2', folder: '/data/empty' });
    await settle();
    f.calls[1].resolve({
      usage: { kind: 'bits', images: 0 },
      failed: [{ file: '/data/empty/a.png', message: 'not an image' }],
      cancelled: false,
    });
    await assert.rejects(none, {
      code: 'BadImage',
      message: 'no usable image under /data/empty: all 1 image files failed (the first: not an image)',
    });
    engine.dispose();
  });

  it("cancel stops the panel's generation too", async () => {
    const f = fakeClient();
    const engine = new PanelEngine(f.client, async () => '/models/m');
    const a = panel();
    const started = engine.handlers(a).generationStart({ settings: { classId: 0, seed: 0, cfg: 1.5, topK: 900, topP: 0.96 } });
    await settle();
    f.calls[0].resolve({ runId: 'gen-1' });
    assert.deepStrictEqual(await started, { runId: 'gen-1' });
    await engine.handlers(a).cancel({ runId: 'gen-1' });
    assert.deepStrictEqual(f.cancelled, ['gen-1']);
    engine.dispose();
  });
});

/** An engine client that answers from a table and records each call. */
function answeringClient(family: 'var' | 'infinity', calls: Array<[string, unknown]>): EngineClient {
  const answers: Record<string, unknown> = {
    modelFamily: family,
    inspect: { scales: ['tokens'] },
    inspectBits: { schedule: 'hw0.750-0.06M', scales: ['bits'] },
    evaluateBits: { schedule: 'hw0.750-0.06M', captionTokens: 7 },
  };
  return {
    restartCount: 0,
    on: () => () => undefined,
    cancel: async () => undefined,
    call: async (method: string, params: unknown) => {
      calls.push([method, params]);
      if (!(method in answers)) throw new Error(`unexpected engine call ${method}`);
      return answers[method];
    },
  } as unknown as EngineClient;
}

const PANEL = { imageUri: { fsPath: '/images/cat.png' }, state: { imageUri: 'file:///images/cat.png' }, emit: () => undefined };

describe('extension/panelEngine: the family of the model', () => {
  for (const [family, request, result] of [
    ['infinity', 'inspectBits', { family: 'infinity', schedule: 'hw0.750-0.06M', scales: ['bits'] }],
    ['var', 'inspect', { family: 'var', scales: ['tokens'] }],
  ] as const) {
    it(`a panel's inspect on a ${family} model asks the engine ${request} and says the family`, async () => {
      const calls: Array<[string, unknown]> = [];
      const engine = new PanelEngine(answeringClient(family, calls), async () => '/bundles/m');
      const r = await engine.handlers(PANEL as unknown as PanelContext).inspect({});
      assert.deepStrictEqual(r, result);
      assert.deepStrictEqual(calls, [
        ['modelFamily', { model: '/bundles/m' }],
        [request, { model: '/bundles/m', image: { path: '/images/cat.png' } }],
      ]);
      engine.dispose();
    });
  }
});

describe('extension/panelEngine: the caption', () => {
  it("evaluateBits asks the engine for the panel's image with the caption the panel sends", async () => {
    const calls: Array<[string, unknown]> = [];
    const engine = new PanelEngine(answeringClient('infinity', calls), async () => '/bundles/m');
    const text = { featuresFile: '/images/cat.npy' };
    assert.deepStrictEqual(await engine.handlers(PANEL as unknown as PanelContext).evaluateBits({ text }), {
      schedule: 'hw0.750-0.06M',
      captionTokens: 7,
    });
    assert.deepStrictEqual(calls, [['evaluateBits', { model: '/bundles/m', image: { path: '/images/cat.png' }, text }]]);
    engine.dispose();
  });
});
