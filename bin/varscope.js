#!/usr/bin/env node
// The `varscope` command: runs the built CLI (dist/cli.js, from `npm run build`).
'use strict';
const path = require('path');
const fs = require('fs');

// VARSCOPE_CLI points at another build of the same module (the tests use the tsc output, out/src/cli/main.js).
const cli = process.env.VARSCOPE_CLI || path.join(__dirname, '..', 'dist', 'cli.js');
if (!fs.existsSync(cli)) {
  process.stderr.write(`varscope: ${cli} is missing; build it first with \`npm run build\`\n`);
  process.exit(1);
}
require(cli).main(process.argv.slice(2)).then((code) => {
  process.exitCode = code;
});
