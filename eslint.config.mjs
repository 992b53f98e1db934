// Lint: TypeScript recommended rules, plus the layering of the source folders (README, Layout): engine, shared, client and CLI never import vscode; shared imports no platform runtime.
import js from '@eslint/js';
import tseslint from 'typescript-eslint';

const VSCODE = { name: 'vscode', message: 'Only src/extension imports vscode.' };
const ORT = { name: 'onnxruntime-node', message: 'Only src/engine/runtime imports onnxruntime-node.' };
const D3 = { name: 'd3', message: 'd3 belongs to src/webview.' };

// The engine's layers, lowest first: a folder imports its own and lower layers, never a higher one; engine.ts (the
// entry, with engineProcess.ts) sits above them all.
const ENGINE_LAYERS = [['runtime'], ['bundle'], ['image', 'analysis', 'text'], ['model'], ['generation', 'dataset']];

/** `no-restricted-imports` for `files`: the named paths, and import patterns with the reason each breaks. */
const restrict = (files, paths, groups = []) => ({
  files,
  rules: {
    'no-restricted-imports': ['error', { paths, patterns: groups.map(([group, message]) => ({ group, message })) }],
  },
});

/** The import rules of every source folder (flat config: the last block that matches a file sets the whole rule). */
function layerRules() {
  const rules = [
    // Node-side code never touches the editor API; shared code also stays free of native and DOM-only runtimes.
    restrict(
      ['src/client/**/*.ts', 'src/cli/**/*.ts', 'src/node/**/*.ts'],
      [VSCODE, ORT],
      [[['**/engine/*/**'], "Outside src/engine import only src/engine/engine.ts, the engine's entry."]],
    ),
    restrict(
      ['src/extension/**/*.ts'],
      [ORT],
      [[['**/engine/*/**'], "Outside src/engine import only src/engine/engine.ts, the engine's entry."]],
    ),
    restrict(['src/shared/**/*.ts'], [VSCODE, ORT, D3], [[['**/engine/**', '**/node/**'], 'src/shared imports only src/shared.']]),
    restrict(['src/engine/*.ts'], [VSCODE, ORT]),
  ];
  ENGINE_LAYERS.forEach((layer, i) => {
    const higher = ENGINE_LAYERS.slice(i + 1).flat();
    const groups = [[['../engine', '../engineProcess'], 'engine.ts is the entry: the layers below never import it.']];
    if (higher.length)
      groups.push([
        higher.map((h) => `../${h}/**`),
        `src/engine/${layer.join(', ')} may not import the higher layers ${higher.join(', ')}.`,
      ]);
    for (const folder of layer)
      rules.push(restrict([`src/engine/${folder}/**/*.ts`], folder === 'runtime' ? [VSCODE] : [VSCODE, ORT], groups));
  });
  return rules;
}

export default tseslint.config(
  { ignores: ['dist/**', 'out/**', 'node_modules/**', '.vsc/**', 'test-results/**', 'models/**', 'python/**'] },
  js.configs.recommended,
  ...tseslint.configs.recommended,
  {
    files: ['**/*.ts'],
    rules: {
      '@typescript-eslint/no-unused-vars': ['error', { argsIgnorePattern: '^_', varsIgnorePattern: '^_' }],
    },
  },
  ...layerRules(),
  {
    files: ['**/*.js', '**/*.cjs', '**/*.mjs'],
    languageOptions: {
      sourceType: 'commonjs',
      globals: {
        require: 'readonly',
        module: 'writable',
        process: 'readonly',
        __dirname: 'readonly',
        console: 'readonly',
        setTimeout: 'readonly',
        clearTimeout: 'readonly',
        Buffer: 'readonly',
      },
    },
    rules: { '@typescript-eslint/no-require-imports': 'off' },
  },
);
