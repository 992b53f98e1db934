/** The engine's configuration from the settings, and which setting changes reconfigure it. */
import * as assert from 'assert';
import { affectsEngine, ENGINE_SETTINGS, engineConfigFrom } from '../../../src/extension/engineSettings';

/** A `varscope` section holding `values` (unset keys read as their default). */
const section = (values: Record<string, unknown>) => ({
  get: <T>(key: string, fallback: T): T => (key in values ? (values[key] as T) : fallback),
});

describe('extension/engineSettings', () => {
  it('reads the defaults when nothing is set', () => {
    assert.deepStrictEqual(engineConfigFrom(section({})), {
      provider: 'auto',
      threads: 0,
      cudaLibraryPath: undefined,
      maxImagePixels: 100_000_000,
    });
  });

  it('passes the settings through; an empty CUDA path is none', () => {
    const values = { executionProvider: 'cuda', threads: 4, cudaLibraryPath: '/opt/cuda/lib64', maxImagePixels: 5e6 };
    assert.deepStrictEqual(engineConfigFrom(section(values)), {
      provider: 'cuda',
      threads: 4,
      cudaLibraryPath: '/opt/cuda/lib64',
      maxImagePixels: 5e6,
    });
    assert.strictEqual(engineConfigFrom(section({ cudaLibraryPath: '' })).cudaLibraryPath, undefined);
  });

  it('reconfigures on a change to a setting the engine reads, not on the others', () => {
    const changed = (...keys: string[]) => ({ affectsConfiguration: (s: string) => keys.includes(s) });
    for (const key of ENGINE_SETTINGS) assert.strictEqual(affectsEngine(changed(`varscope.${key}`)), true, key);
    for (const key of ['varscope.colorTokensBy', 'varscope.model', 'varscope.pythonPath', 'editor.fontSize'])
      assert.strictEqual(affectsEngine(changed(key)), false, key);
  });
});
