/**
 * Where the reference fixtures and the exported fixture bundle live, and the checks tests share.
 */
import * as assert from 'assert';
import * as fs from 'fs';
import { spawnSync } from 'child_process';
import * as path from 'path';
import { VarScopeError } from '../../src/shared/errors';

/** Repository root (tests run from out/test/unit). */
export const ROOT = path.resolve(__dirname, '..', '..', '..');
/**
 * Outputs of the official VAR code on a small seeded model (read-only): official-var-A in the fixtures folder,
 * $VARSCOPE_FIXTURES or <repo>/../shared/fixtures (the same variable as the Python tests and tools/export_fixtures.sh).
 */
export const FIXTURES = path.join(process.env.VARSCOPE_FIXTURES ?? path.resolve(ROOT, '..', 'shared', 'fixtures'), 'official-var-A');
/** The exported bundle of those fixtures (VARSCOPE_BUNDLE overrides the folder). */
export const BUNDLE = process.env.VARSCOPE_BUNDLE ?? path.join(ROOT, 'out', 'bundles', 'official-var-A');

/** The same fixtures exported with the PyTorch 2.x venv (tools/export_fixtures.sh torch2). */
export const BUNDLE_TORCH2 = path.join(ROOT, 'out', 'bundles', 'official-var-A-torch2');

/** The fixture bundle folder (`dir`, default BUNDLE), or a failure telling how to make it. */
export function requireBundle(dir = BUNDLE): string {
  if (!fs.existsSync(path.join(dir, 'varscope.json'))) {
    throw new Error(`the fixture bundle ${dir} is missing: run \`bash tools/export_fixtures.sh\` first`);
  }
  return dir;
}

/** A fixture file path (fails clearly when the fixtures are absent). */
export function fixture(name: string): string {
  const p = path.join(FIXTURES, name);
  if (!fs.existsSync(p))
    throw new Error(`reference fixture ${p} not found (set VARSCOPE_FIXTURES to the folder that holds official-var-A)`);
  return p;
}

/** The `varscope` command (bin/varscope.js) and the tsc build of the CLI it runs (the module webpack bundles into dist/cli.js). */
export const CLI_BIN = path.join(ROOT, 'bin', 'varscope.js');
export const CLI_ENV = { ...process.env, VARSCOPE_CLI: path.join(ROOT, 'out', 'src', 'cli', 'main.js') };

/** Run `varscope ARGS` (with extra environment variables) to the end, or until `timeout` ms have passed. */
export function runCli(args: string[], env: NodeJS.ProcessEnv = {}, timeout = 300000): { code: number; stdout: string; stderr: string } {
  const r = spawnSync(process.execPath, [CLI_BIN, ...args], { encoding: 'utf8', timeout, env: { ...CLI_ENV, ...env } });
  return { code: r.status ?? -1, stdout: r.stdout, stderr: r.stderr };
}

/** One image of the default model's parity set (test/fixtures/default-model/index.json). */
export interface DefaultModelImage {
  file: string;
  path: string;
  classId: number;
  className: string;
}

/** The images of the default model's parity set, with their true class (`root`: the repository or extension). */
export function defaultModelImages(root = ROOT): DefaultModelImage[] {
  const dir = path.join(root, 'test', 'fixtures', 'default-model');
  const index = JSON.parse(fs.readFileSync(path.join(dir, 'index.json'), 'utf8')) as {
    images: Array<{ file: string; class: number; className: string }>;
  };
  return index.images.map((i) => ({ file: i.file, path: path.join(dir, i.file), classId: i.class, className: i.className }));
}

/** The training step a bundle records (provenance.training.step of its varscope.json). */
export function bundleStep(dir: string): number {
  const step = JSON.parse(fs.readFileSync(path.join(dir, 'varscope.json'), 'utf8')).provenance?.training?.step;
  if (!Number.isInteger(step)) throw new Error(`${dir}: no provenance.training.step in varscope.json`);
  return step;
}

/** The message of `load`'s refusal, a ModelLoad VarScopeError of one line; a failure when it loads (`what` names it). */
export async function loadRefusal(load: () => Promise<unknown>, what: string): Promise<string> {
  try {
    await load();
  } catch (e) {
    assert.ok(e instanceof VarScopeError, `not a VarScopeError: ${e instanceof Error ? e.stack : String(e)}`);
    assert.strictEqual(e.code, 'ModelLoad', e.message);
    assert.ok(!e.message.includes('\n'), `more than one line: ${e.message}`);
    return e.message;
  }
  return assert.fail(`${what} loaded`);
}
