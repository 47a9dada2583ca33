// `node scripts/run.js <file.ts> [args...]`: runs a TypeScript script of this project.
'use strict';
const path = require('path');
require('./ts-hook').register();
const [, , entry, ...rest] = process.argv;
if (!entry) {
  console.error('usage: node scripts/run.js <script.ts> [args...]');
  process.exit(2);
}
process.argv = [process.argv[0], path.resolve(entry), ...rest];
require(path.resolve(entry));
