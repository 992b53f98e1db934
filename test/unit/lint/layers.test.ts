/**
 * The import rules of eslint.config.mjs, on files placed in each source folder: the engine's layers import downward
 * only, onnxruntime-node stays in src/engine/runtime, and nothing outside src/engine reaches past its entry.
 */
import * as assert from 'assert';
import * as path from 'path';
import { ESLint } from 'eslint';
import { ROOT } from '../fixtures';

describe('import rules (eslint.config.mjs)', function () {
  this.timeout(60000);
  const eslint = new ESLint({ cwd: ROOT });

  /** The no-restricted-imports messages for `code` as if it were the file `file`. */
  async function refusals(file: string, code: string): Promise<string[]> {
    const [result] = await eslint.lintText(code, { filePath: path.join(ROOT, file) });
    return result.messages.filter((m) => m.ruleId === 'no-restricted-imports').map((m) => m.message);
  }

  it('an engine layer may not import a higher one, nor the entry', async () => {
    const up = await refusals('src/engine/runtime/x.ts', "import { ModelBundle } from '../bundle/bundle';\nexport type X = ModelBundle;\n");
    assert.strictEqual(up.length, 1);
    assert.match(up[0], /src\/engine\/runtime may not import the higher layers/);
    assert.strictEqual(
      (await refusals('src/engine/model/x.ts', "import { Engine } from '../engine';\nexport type X = Engine;\n")).length,
      1,
    );
    assert.deepStrictEqual(
      await refusals('src/engine/model/x.ts', "import { ModelBundle } from '../bundle/bundle';\nexport type X = ModelBundle;\n"),
      [],
    );
  });

  it('onnxruntime-node only in src/engine/runtime', async () => {
    const code = "import * as ort from 'onnxruntime-node';\nexport const o = ort;\n";
    assert.deepStrictEqual(await refusals('src/engine/runtime/x.ts', code), []);
    for (const file of ['src/engine/model/x.ts', 'src/engine/engine2.ts', 'src/cli/x.ts', 'src/extension/x.ts', 'src/shared/x.ts'])
      assert.match((await refusals(file, code))[0] ?? '', /Only src\/engine\/runtime imports onnxruntime-node/, file);
  });

  it('outside the engine, only its entry', async () => {
    const inner = "import { tokenize } from '../engine/model/tokenizer';\nexport const t = tokenize;\n";
    for (const file of ['src/cli/x.ts', 'src/client/x.ts', 'src/extension/x.ts', 'src/node/x.ts'])
      assert.match((await refusals(file, inner))[0] ?? '', /import only src\/engine\/engine\.ts/, file);
    assert.deepStrictEqual(await refusals('src/cli/x.ts', "import { Engine } from '../engine/engine';\nexport type E = Engine;\n"), []);
  });

  it('vscode only in src/extension', async () => {
    const code = "import * as vscode from 'vscode';\nexport const v = vscode;\n";
    assert.deepStrictEqual(await refusals('src/extension/x.ts', code), []);
    for (const file of ['src/engine/bundle/x.ts', 'src/cli/x.ts', 'src/shared/x.ts', 'src/node/x.ts'])
      assert.match((await refusals(file, code))[0] ?? '', /Only src\/extension imports vscode/, file);
  });
});
