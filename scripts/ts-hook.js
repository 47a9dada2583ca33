// Runs the project's TypeScript directly under Node and Jest by transpiling each file with esbuild
// (type-checking is `tsc --noEmit`, run by `npm test`).
'use strict';
const esbuild = require('esbuild');

function compileTs(source, filename) {
  return esbuild.transformSync(source, {
    loader: 'ts',
    format: 'cjs',
    target: 'node18',
    sourcemap: 'inline',
    sourcefile: filename,
  }).code;
}

function register() {
  const fs = require('fs');
  require.extensions['.ts'] = (module, filename) => {
    module._compile(compileTs(fs.readFileSync(filename, 'utf8'), filename), filename);
  };
}

module.exports = { compileTs, register };
