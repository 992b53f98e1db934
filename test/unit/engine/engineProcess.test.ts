/**
 * The engine child process: requests cross with typed arrays, a killed process surfaces as EngineCrashed and
 * the next request restarts it, a cancelled generation stops within one scale, memory stays flat.
 */
import * as assert from 'assert';
import * as path from 'path';
import { EngineClient } from '../../../src/client/engineClient';
import type { GenerationStep } from '../../../src/shared/results';
import { VarScopeError } from '../../../src/shared/errors';
import { varStepOf } from '../../../src/shared/modelFamily';
import { fixture, requireBundle, ROOT } from '../fixtures';

const ENTRY = path.join(ROOT, 'out', 'src', 'engine', 'engineProcess.js');
const CONFIG = { provider: 'cpu' as const, threads: 0, maxImagePixels: 1e8 };
const SETTINGS = { classId: 3, seed: 7, cfg: 4, topK: 900, topP: 0.96 };

describe('engine process', function () {
  this.timeout(180000);
  let client: EngineClient;
  let model: string;

  before(() => {
    model = requireBundle();
    client = new EngineClient({ entry: ENTRY, config: CONFIG });
  });
  after(async () => client?.dispose());

  it('serves a request with typed arrays intact', async () => {
    const r = await client.call('inspect', { model, image: { path: fixture('img0.png') } });
    assert.ok(r.scales[0].tokens instanceof Int32Array);
    assert.ok(r.scales[9].decoded.data instanceof Uint8ClampedArray);
    assert.strictEqual(r.scales.length, 10);
    assert.strictEqual(r.model.provider, 'cpu');
  });

  it('a killed engine fails the request in flight with EngineCrashed; the next request restarts it and succeeds', async () => {
    const pid = client.pid!;
    const inflight = client.call('inspect', { model, image: { path: fixture('img1.png') } });
    await new Promise((r) => setTimeout(r, 100));
    process.kill(pid, 'SIGKILL');
    await assert.rejects(inflight, (e: unknown) => e instanceof VarScopeError && e.code === 'EngineCrashed');
    const r = await client.call('inspect', { model, image: { path: fixture('img1.png') } });
    assert.strictEqual(r.scales.length, 10);
    assert.notStrictEqual(client.pid, pid);
    assert.ok(client.restartCount >= 1);
  });

  it('errors cross the process with their code (BadImage, ModelNotFound)', async () => {
    await assert.rejects(
      client.call('inspect', { model, image: { bytes: new Uint8Array(0), name: 'empty.png' } }),
      (e: unknown) => e instanceof VarScopeError && e.code === 'BadImage',
    );
    await assert.rejects(
      client.call('openModel', { model: path.join(ROOT, 'no-such-model') }),
      (e: unknown) => e instanceof VarScopeError && e.code === 'ModelNotFound',
    );
  });

  it('step API: streams each scale, goes back and forward to the same tokens; same seed, same tokens', async () => {
    const seen: GenerationStep[] = [];
    const off = client.on('generationStep', (s) => seen.push(varStepOf(s)));
    const { runId } = await client.call('generationStart', { model, settings: SETTINGS });
    const s0 = varStepOf(await client.call('generationStep', { runId }));
    assert.strictEqual(s0.scaleIndex, 0);
    const s4 = varStepOf(await client.call('generationStep', { runId, scaleIndex: 4 }));
    assert.deepStrictEqual(
      seen.map((s) => s.scaleIndex),
      [0, 1, 2, 3, 4],
    );
    assert.strictEqual(s4.image.width, 256);
    const back = varStepOf(await client.call('generationStep', { runId, scaleIndex: 2 }));
    assert.deepStrictEqual(back.tokens, seen[2].tokens);
    const again = varStepOf(await client.call('generationStep', { runId, scaleIndex: 4 }));
    assert.deepStrictEqual(again.tokens, s4.tokens);
    const last = varStepOf(await client.call('generationStep', { runId, scaleIndex: 9 }));
    await client.call('generationCancel', { runId });
    const whole = await client.call('generate', { model, settings: SETTINGS });
    assert.ok(whole.family !== 'infinity');
    assert.deepStrictEqual(whole.tokens[9], last.tokens);
    assert.deepStrictEqual(whole.tokens[4], s4.tokens);
    off();
  });

  it('a cancelled generation stops within one scale', async () => {
    const { runId } = await client.call('generationStart', { model, settings: SETTINGS });
    const steps: number[] = [];
    let seenAtCancel = -1;
    let cancelled: Promise<void> | undefined;
    const off = client.on('generationStep', (s) => {
      if (s.runId !== runId) return;
      steps.push(s.scaleIndex);
      // Events and replies arrive in order: when the cancel reply is here, every scale finished before it is too.
      if (s.scaleIndex === 2) cancelled = client.cancel(runId).then(() => void (seenAtCancel = steps.length));
    });
    await assert.rejects(
      client.call('generationStep', { runId, scaleIndex: 9 }),
      (e: unknown) => e instanceof VarScopeError && e.code === 'Cancelled',
    );
    await cancelled;
    off();
    assert.ok(seenAtCancel >= 3, `cancel acknowledged after ${seenAtCancel} scales`);
    assert.ok(
      steps.length <= seenAtCancel + 1,
      `scales ${steps.join(',')}: more than the one in progress after the cancel (${seenAtCancel})`,
    );
    assert.ok(steps.length < 10);
  });

  it('the default model (its decoder in worker threads, steps computed ahead): 100 inspections grow the RSS by at most 10 %', async function () {
    this.timeout(1800000);
    const dflt = path.join(ROOT, 'models', 'emoji64-d4');
    const image = { path: path.join(ROOT, 'media', 'sample.png') };
    // warm-up: onnxruntime's arenas reach their peaks over the first inspections and step-through runs
    for (let i = 0; i < 5; i++) await client.call('inspect', { model: dflt, image });
    for (let seed = 0; seed < 5; seed++) {
      const { runId } = await client.call('generationStart', { model: dflt, settings: { ...SETTINGS, seed } });
      for (let k = 0; k < 10; k++) await client.call('generationStep', { runId, scaleIndex: k });
      await client.call('generationCancel', { runId });
    }
    await client.call('inspect', { model: dflt, image });
    const before = (await client.call('status', {})).rss;
    for (let i = 0; i < 100; i++) await client.call('inspect', { model: dflt, image });
    const after = (await client.call('status', {})).rss;
    assert.ok(after <= before * 1.1, `RSS ${Math.round(before / 2 ** 20)} MB -> ${Math.round(after / 2 ** 20)} MB`);
  });

  it('100 sequential inspections grow the engine RSS by at most 10 % (after warm-up)', async function () {
    this.timeout(1800000); // about a minute on an idle 2-core machine; far longer when it is shared
    for (let i = 0; i < 5; i++) await client.call('inspect', { model, image: { path: fixture(`img${i % 3}.png`) } });
    const before = (await client.call('status', {})).rss;
    for (let i = 0; i < 100; i++) await client.call('inspect', { model, image: { path: fixture(`img${i % 3}.png`) } });
    const after = (await client.call('status', {})).rss;
    assert.ok(after <= before * 1.1, `RSS ${Math.round(before / 2 ** 20)} MB -> ${Math.round(after / 2 ** 20)} MB`);
  });
});
