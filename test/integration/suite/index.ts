/**
 * extensionTestsPath entry: VS Code calls run() inside the extension host. Runs every *.test.js beside
 * this file with mocha and writes the outcome to VARSCOPE_TEST_RESULTS for the harness to count.
 */
import * as fs from 'fs';
import * as path from 'path';
import Mocha from 'mocha';

/** One test's outcome as the harness prints it. */
export interface TestOutcome {
  title: string;
  state: 'passed' | 'failed';
  error?: string;
  ms?: number;
}

/** Runs the suite; rejects when any test failed (VS Code then exits with code 1). */
export function run(): Promise<void> {
  // VARSCOPE_IT_GREP runs only the tests whose full title matches (e.g. one suite while working on it).
  const mocha = new Mocha({
    ui: 'tdd',
    color: false,
    timeout: 60000,
    ...(process.env.VARSCOPE_IT_GREP ? { grep: process.env.VARSCOPE_IT_GREP } : {}),
  });
  // out/ keeps the output of deleted sources: run only tests whose .ts still exists.
  const sourceDir = path.resolve(__dirname, '..', '..', '..', '..', 'test', 'integration', 'suite');
  const files = fs
    .readdirSync(__dirname)
    .filter((f) => f.endsWith('.test.js') && fs.existsSync(path.join(sourceDir, f.replace(/\.js$/, '.ts'))));
  for (const f of files.sort()) mocha.addFile(path.join(__dirname, f));
  const outcomes: TestOutcome[] = [];
  return new Promise((resolve, reject) => {
    const runner = mocha.run((failures) => {
      const file = process.env.VARSCOPE_TEST_RESULTS;
      if (file) fs.writeFileSync(file, JSON.stringify({ outcomes }, null, 2));
      if (failures > 0) reject(new Error(`${failures} integration tests failed`));
      else resolve();
    });
    runner.on('pass', (t) => outcomes.push({ title: t.fullTitle(), state: 'passed', ms: t.duration }));
    runner.on('fail', (t, err: Error) => outcomes.push({ title: t.fullTitle(), state: 'failed', error: String(err?.stack ?? err) }));
  });
}
