'use strict';
const { compileTs } = require('../scripts/ts-hook');
module.exports = { process: (source, filename) => ({ code: compileTs(source, filename) }) };
