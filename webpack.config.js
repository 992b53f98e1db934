// Two builds: the extension side for Node (extension host, engine child process, CLI) and the webview for the browser.
'use strict';
const path = require('path');
const MiniCssExtractPlugin = require('mini-css-extract-plugin');

const tsRule = (configFile) => ({
  test: /\.ts$/,
  exclude: /node_modules/,
  use: [{ loader: 'ts-loader', options: { configFile, transpileOnly: true } }],
});

/** @type {(env: unknown, argv: {mode?: string}) => import('webpack').Configuration} */
const nodeConfig = (_env, argv) => ({
  name: 'node',
  target: 'node20',
  entry: {
    extension: './src/extension/extension.ts',
    engineProcess: './src/engine/engineProcess.ts',
    cli: './src/cli/main.ts',
    graphWorker: './src/engine/runtime/graphWorker.ts',
  },
  output: {
    path: path.resolve(__dirname, 'dist'),
    filename: '[name].js',
    libraryTarget: 'commonjs2',
  },
  // NOTE: onnxruntime-node and sharp load native binaries relative to their package folders: bundling breaks them.
  externals: { vscode: 'commonjs vscode', 'onnxruntime-node': 'commonjs onnxruntime-node', sharp: 'commonjs sharp' },
  resolve: { extensions: ['.ts', '.js'] },
  module: { rules: [tsRule(path.resolve(__dirname, 'tsconfig.json'))] },
  devtool: argv.mode === 'production' ? 'source-map' : 'eval-source-map',
  node: { __dirname: false },
  infrastructureLogging: { level: 'warn' },
});

/** @type {(env: unknown, argv: {mode?: string}) => import('webpack').Configuration} */
const webviewConfig = (_env, argv) => ({
  name: 'webview',
  target: 'web',
  entry: { main: './src/webview/main.ts' },
  output: { path: path.resolve(__dirname, 'dist', 'webview'), filename: '[name].js' },
  resolve: { extensions: ['.ts', '.js'] },
  module: {
    rules: [
      tsRule(path.resolve(__dirname, 'src/webview/tsconfig.json')),
      // CSS goes to its own file so the webview's CSP needs no 'unsafe-inline'.
      { test: /\.css$/, use: [MiniCssExtractPlugin.loader, 'css-loader'] },
    ],
  },
  plugins: [new MiniCssExtractPlugin({ filename: '[name].css' })],
  devtool: argv.mode === 'production' ? false : 'source-map',
  performance: { hints: false },
});

module.exports = [nodeConfig, webviewConfig];
