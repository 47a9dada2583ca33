/** Jest runs TypeScript through esbuild (see scripts/ts-hook.js); `tsc --noEmit` type-checks. */
module.exports = {
  testEnvironment: 'node',
  roots: ['<rootDir>/test'],
  testMatch: ['**/*.test.ts'],
  moduleFileExtensions: ['ts', 'js', 'json'],
  transform: { '\\.ts$': '<rootDir>/test/esbuild-transform.js' },
  testTimeout: 30000,
  reporters: ['default', '<rootDir>/test/summary-reporter.js'],
};
