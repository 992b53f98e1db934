/** The panel's requests as engine calls: `inspect` goes to the engine request of the current model's family. */
import * as assert from 'assert';
import type { EngineClient } from '../../../src/client/engineClient';
import { PanelEngine, type PanelContext } from '../../../src/extension/panelEngine';

/** An engine client that answers from a table and records each call. */
function fakeClient(family: 'var' | 'infinity', calls: Array<[string, unknown]>): EngineClient {
  const answers: Record<string, unknown> = {
    modelFamily: family,
    inspect: { scales: ['tokens'] },
    inspectBits: { schedule: 'hw0.750-0.06M', scales: ['bits'] },
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

describe('extension/panelEngine', () => {
  for (const [family, request, result] of [
    ['infinity', 'inspectBits', { family: 'infinity', schedule: 'hw0.750-0.06M', scales: ['bits'] }],
    ['var', 'inspect', { family: 'var', scales: ['tokens'] }],
  ] as const) {
    it(`a panel's inspect on a ${family} model asks the engine ${request} and says the family`, async () => {
      const calls: Array<[string, unknown]> = [];
      const engine = new PanelEngine(fakeClient(family, calls), async () => '/bundles/m');
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
