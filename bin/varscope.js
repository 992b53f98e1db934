#!/usr/bin/env node
// The `varscope` command: runs the built CLI (dist/cli.js, from `npm run build`).
// The CLI runs in a child process whose stderr passes through here: native libraries inside onnxruntime write
// warnings straight to the file descriptor (Dawn's "Couldn't load Vulkan" when the WebGPU provider is tried), which
// would read as errors of the command. They are dropped (kept with --verbose); everything else passes unchanged.
// A CLI process that dies of an allocation failure (V8's fatal OOM report, an uncaught std::bad_alloc) is one line
// and exit 1, as any other failure, instead of a native stack dump.
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

/** What an allocation failure prints (V8, C++, the dynamic loader mapping a library): src/shared/errors.ts's list and more. */
const ALLOCATION_FAILURE =
  /Fatal (process )?OOM|heap out of memory|Failed to reserve virtual memory|allocation failed|bad_alloc|Failed to allocate memory|Cannot allocate memory|failed to map segment|out of memory/i;

const args = process.argv.slice(2);
if (process.env.VARSCOPE_CLI_CHILD === '1') {
  // The child: the terminal's view of stderr is the parent's.
  if (process.env.VARSCOPE_STDERR_TTY === '1') process.stderr.isTTY = true;
  let mod;
  try {
    mod = require(cli);
  } catch (e) {
    // e.g. sharp's native library could not be mapped under an address-space limit
    const text = e instanceof Error ? e.message : String(e);
    const oom = text.split('\n').find((l) => ALLOCATION_FAILURE.test(l));
    process.stderr.write(
      oom
        ? `varscope ${args[0] ?? ''}: out of memory while starting (${oom.trim()})\n`
        : `varscope: cannot load ${cli}: ${text.split('\n')[0]}\n`,
    );
    process.exit(1);
  }
  mod.main(args).then((code) => {
    process.exitCode = code;
  });
} else {
  runFiltered();
}

/** Lines of a native crash report (V8's fatal error and OOM report, glibc's terminate): held until the child ends. */
const CRASH = [
  /^\s*$/,
  /^#/,
  /^<--- /,
  /^\[\d+:0x[0-9a-f]+\]/,
  /^FATAL ERROR:/,
  /^----- Native stack trace/,
  /^\s*\d+: 0x[0-9a-f]+ /,
  /^terminate called/,
  /^\s+what\(\):/,
];

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
      // Fewer glibc heaps: each thread's own 64 MB heap is address space reserved for nothing (see engineClient.ts).
      MALLOC_ARENA_MAX: process.env.MALLOC_ARENA_MAX || '4',
      VARSCOPE_CLI_CHILD: '1',
      VARSCOPE_STDERR_TTY: process.stderr.isTTY ? '1' : '',
      VARSCOPE_VERBOSE: verbose ? '1' : process.env.VARSCOPE_VERBOSE || '',
    },
  });
  let pending = '';
  let dropBlank = false;
  /** Lines that may be part of a crash report, printed once a line that is not follows (or the child ends well). */
  let held = [];
  const out = (text) => process.stderr.write(text);
  const line = (l) => {
    if (CRASH.some((re) => re.test(l))) {
      held.push(l);
      return;
    }
    if (held.length) {
      const lines = held;
      held = [];
      lines.forEach((h) => show(h));
    }
    show(l);
  };
  const show = (l) => {
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
    // A partial line (a progress line ending in \r) goes out at once unless it may become a noise or crash line.
    if (pending && !/^(Warning|[ \t]|\[|\d|#|<|FATAL|terminate|-----)/.test(pending)) {
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
    pending = '';
    const oom = held.find((l) => ALLOCATION_FAILURE.test(l));
    if (oom && (signal || code !== 0)) {
      const command = args.find((a) => !a.startsWith('-')) ?? '';
      out(`varscope ${command}: out of memory (${oom.replace(/^[#\s]+/, '').trim()})\n`);
      process.exitCode = 1;
      return;
    }
    held.forEach((h) => show(h));
    held = [];
    if (signal) {
      for (const sig of ['SIGINT', 'SIGTERM', 'SIGHUP']) process.removeAllListeners(sig);
      process.kill(process.pid, signal); // end the way the child ended
      return;
    }
    process.exitCode = code ?? 1;
  });
}
