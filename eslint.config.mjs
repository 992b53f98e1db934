// Lint: TypeScript recommended rules, plus the layering of the source folders (README, Layout): engine, shared, client and CLI never import vscode; shared imports no platform runtime.
import js from '@eslint/js';
import tseslint from 'typescript-eslint';

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
  {
    // The engine runs in a plain Node child process and the shared code everywhere: neither may touch the editor API.
    files: ['src/engine/**/*.ts', 'src/shared/**/*.ts', 'src/client/**/*.ts', 'src/cli/**/*.ts'],
    rules: {
      'no-restricted-imports': [
        'error',
        { paths: [{ name: 'vscode', message: 'src/engine, src/shared, src/client and src/cli must not import vscode.' }] },
      ],
    },
  },
  {
    // Shared code must also stay free of the DOM-only and native runtimes.
    files: ['src/shared/**/*.ts'],
    rules: {
      'no-restricted-imports': [
        'error',
        {
          paths: [
            { name: 'vscode', message: 'src/shared must not import vscode.' },
            { name: 'onnxruntime-node', message: 'Only src/engine/onnxRuntime.ts imports onnxruntime.' },
            { name: 'd3', message: 'd3 belongs to src/webview.' },
          ],
        },
      ],
    },
  },
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
