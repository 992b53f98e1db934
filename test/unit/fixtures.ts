/**
 * Where the reference fixtures and the exported fixture bundle live.
 */
import * as fs from 'fs';
import * as path from 'path';

/** Repository root (tests run from out/test/unit). */
export const ROOT = path.resolve(__dirname, '..', '..', '..');
/** Outputs of the official VAR code on a small seeded model (read-only). */
export const FIXTURES = process.env.VARSCOPE_FIXTURES ?? path.resolve(ROOT, '..', 'shared', 'fixtures', 'official-var-A');
/** The exported bundle of those fixtures (VARSCOPE_BUNDLE overrides the folder). */
export const BUNDLE = process.env.VARSCOPE_BUNDLE ?? path.join(ROOT, 'out', 'bundles', 'official-var-A');

/** The fixture bundle folder, or a failure telling how to make it. */
export function requireBundle(): string {
  if (!fs.existsSync(path.join(BUNDLE, 'varscope.json'))) {
    throw new Error(`the fixture bundle ${BUNDLE} is missing: run \`bash tools/export_fixtures.sh\` first`);
  }
  return BUNDLE;
}

/** A fixture file path (fails clearly when the fixtures are absent). */
export function fixture(name: string): string {
  const p = path.join(FIXTURES, name);
  if (!fs.existsSync(p)) throw new Error(`reference fixture ${p} not found (set VARSCOPE_FIXTURES to the official-var-A folder)`);
  return p;
}
