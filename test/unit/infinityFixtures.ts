/**
 * The official Infinity fixtures (test/fixtures/infinity/NAME, NAME infinity-A or infinity-B), the bundles exported from
 * them (out/bundles/NAME, by tools/export_fixtures.sh infinity), their captions' T5 features, and the engine the tests
 * run them on.
 */
import * as fs from 'fs';
import * as os from 'os';
import * as path from 'path';
import { Engine } from '../../src/engine/engine';
import { requireBundle, ROOT } from './fixtures';
import { npyFloats, readNpy, writeNpyFloat32 } from './npy';

/** A file of an official Infinity fixture. */
export const infinityFixture = (name: string, file: string): string => path.join(ROOT, 'test', 'fixtures', 'infinity', name, file);

/** The bundle exported from an Infinity fixture (a failure telling how to make it when it is absent). */
export const infinityBundle = (name: string): string => requireBundle(path.join(ROOT, 'out', 'bundles', name));

/** A fixture caption's T5 features [tokens, width]: its rows of text_kv_compact.npy, bounded by text_cu_seqlens_k.npy. */
export interface FixtureCaption {
  features: Float32Array;
  tokens: number;
  width: number;
}

/** Caption `index` of a fixture. */
export function fixtureCaption(name: string, index: number): FixtureCaption {
  const kv = npyFloats(readNpy(infinityFixture(name, 'text_kv_compact.npy')));
  const cu = Array.from(readNpy(infinityFixture(name, 'text_cu_seqlens_k.npy')).data as BigInt64Array, Number);
  const width = kv.length / cu[cu.length - 1];
  return { features: kv.slice(cu[index] * width, cu[index + 1] * width), tokens: cu[index + 1] - cu[index], width };
}

/** Caption `index` of a fixture written as a .npy file (what a user gives) in `dir`, named NAME-captionINDEX.npy unless `as` names it; with its features. */
export function writeFixtureCaption(
  name: string,
  index: number,
  dir: string,
  as = `${name}-caption${index}.npy`,
): FixtureCaption & { file: string } {
  const c = fixtureCaption(name, index);
  const file = path.join(dir, as);
  writeNpyFloat32(file, [c.tokens, c.width], c.features);
  return { ...c, file };
}

/** An engine on the CPU and a scratch folder, both set before the enclosing describe block's tests run. */
export interface FixtureEngine {
  readonly engine: Engine;
  readonly tmp: string;
}

/** Register the hooks that make the engine and the scratch folder (named `tmpPrefix`…) before the tests and release them after. */
export function useFixtureEngine(tmpPrefix: string): FixtureEngine {
  const env = {} as { engine: Engine; tmp: string };
  before(async () => {
    env.engine = new Engine();
    await env.engine.configure({ provider: 'cpu', threads: 0, maxImagePixels: 1e8 });
    env.tmp = fs.mkdtempSync(path.join(os.tmpdir(), tmpPrefix));
  });
  after(async () => {
    await env.engine?.dispose();
    if (env.tmp) fs.rmSync(env.tmp, { recursive: true, force: true });
  });
  return env;
}
