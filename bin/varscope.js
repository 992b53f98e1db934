#!/usr/bin/env node
// The `varscope` command: runs the built CLI (dist/cli.js, from `npm run build`).
// The CLI runs in a child process whose stderr passes through here: native libraries inside onnxruntime write
// warnings straight to the file descriptor (Dawn's "Couldn't load Vulkan" when the WebGPU provider is tried), which
// would read as errors of the command. They are dropped (kept with --verbose); everything else passes unchanged.
'use strict';
/* global __filename */
const path = require('path');
const fs = require('fs');
const { spawn } = require('child_process');

// VARSCOPE_CLI points at another build of the same module (the tests use the tsc output, out/src/cli/main.js).
const cli = process.env.VARSCOPE_CLI || path.join(__dirname, '..', 'dist', 'cli.js');
if (!fs.existsSync(cli)) {
  process.stderr.write(`varscope: ${cli} is missing; build it first with \`npm run build\`\n`);
  process.exit(1);
}

const args = process.argv.slice(2);
if (process.env.VARSCOPE_CLI_CHILD === '1') {
  // The child: the terminal's view of stderr is the parent's.
  if (process.env.VARSCOPE_STDERR_TTY === '1') process.stderr.isTTY = true;
  require(cli)
    .main(args)
    .then((code) => {
      process.exitCode = code;
    });
} else {
  runFiltered();
}

/** Lines native code prints on its own: Dawn (WebGPU) and onnxruntime's logger. A Dawn warning spans 2-3 lines. */
const NOISE = [
  /^Warning: Couldn't load Vulkan\b/,
  /^\s+at operator\(\) \(.*dawn/,
  /^\[[WIV]:onnxruntime:/,
  /^\d{4}-\d\d-\d\d \d\d:\d\d:\d\d\.\d+ \[[WIV]:onnxruntime:/,
];

function runFiltered() {
  const verbose = args.includes('--verbose');
  const child = spawn(process.execPath, [__filename, ...args.filter((a) => a !== '--verbose')], {
    stdio: ['inherit', 'inherit', 'pipe'],
    env: {
      ...process.env,
      VARSCOPE_CLI_CHILD: '1',
      VARSCOPE_STDERR_TTY: process.stderr.isTTY ? '1' : '',
      VARSCOPE_VERBOSE: verbose ? '1' : process.env.VARSCOPE_VERBOSE || '',
    },
  });
  let pending = '';
  let dropBlank = false;
  const out = (text) => process.stderr.write(text);
  const line = (l) => {
    if (NOISE.some((re) => re.test(l))) {
      dropBlank = true;
      if (verbose) out(`varscope: native library: ${l.trim()}\n`);
      return;
    }
    if (dropBlank && l.trim() === '') return; // the blank line Dawn ends its warning with
    dropBlank = false;
    out(l + '\n');
  };
  child.stderr.on('data', (chunk) => {
    const parts = (pending + chunk.toString()).split('\n');
    pending = parts.pop();
    parts.forEach(line);
    // A partial line (a progress line ending in \r) goes out at once unless it may become a noise line.
    if (pending && !/^(Warning|\s+at |\[|\d{4}-)/.test(pending)) {
      out(pending);
      pending = '';
      dropBlank = false;
    }
  });
  const forward = (sig) => () => child.kill(sig);
  for (const sig of ['SIGINT', 'SIGTERM', 'SIGHUP']) process.on(sig, forward(sig));
  child.on('error', (e) => {
    process.stderr.write(`varscope: cannot start ${process.execPath}: ${e.message}\n`);
    process.exitCode = 1;
  });
  child.on('close', (code, signal) => {
    if (pending) line(pending);
    if (signal) {
      for (const sig of ['SIGINT', 'SIGTERM', 'SIGHUP']) process.removeAllListeners(sig);
      process.kill(process.pid, signal); // end the way the child ended
      return;
    }
    process.exitCode = code ?? 1;
  });
}
