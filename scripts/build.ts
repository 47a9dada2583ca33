/**
 * `npm run build`: one esbuild bundle per function in dist/cloudfunctions/<name>/ (CommonJS, Node 16,
 * wx-server-sdk external), beside a package.json that lists only wx-server-sdk (the cloud installs it)
 * and the function's config.json. project.config.json points cloudfunctionRoot there.
 */
import { build, type Plugin } from 'esbuild';
import { copyFileSync, existsSync, mkdirSync, readdirSync, rmSync, writeFileSync } from 'fs';
import { join, resolve } from 'path';

const root = resolve(__dirname, '..');

/**
 * request-promise and request are most of the code: they go in a file of their own beside index.js,
 * required at the first outbound call (shared/http/client.ts), so a cold start does not parse them.
 */
const LAZY_VENDOR = 'request-promise';
const lazyVendor: Plugin = {
  name: 'lazy-vendor',
  setup(b) {
    b.onResolve({ filter: new RegExp(`^${LAZY_VENDOR}$`) }, () => ({ path: `./${LAZY_VENDOR}.js`, external: true }));
  },
};

/**
 * Inside that file, dependencies that request loads eagerly but uses only for features we never ask for
 * (cookies' public-suffix list, HAR validation, HTTP signatures, OAuth, AWS signing, multipart MIME types)
 * are loaded on first use instead: psl alone builds its
 * rule tree at load and took about half the file's load time.
 */
const DEFERRED = ['psl', 'har-validator', 'http-signature', 'mime-types', 'oauth-sign', 'aws4'];
const deferDeps: Plugin = {
  name: 'defer-deps',
  setup(b) {
    b.onResolve({ filter: new RegExp(`^(${DEFERRED.join('|')})$`) }, (args) => ({
      path: require.resolve(args.path, { paths: [args.resolveDir] }),
      namespace: 'deferred',
    }));
    b.onLoad({ filter: /.*/, namespace: 'deferred' }, (args) => ({
      contents: `let real; module.exports = new Proxy({}, { get: (_, k) => (real ??= require(${JSON.stringify(args.path)}))[k] });`,
      loader: 'js',
      resolveDir: root,
    }));
  },
};

const out = join(root, 'dist', 'cloudfunctions');

export async function buildAll(outDir = out): Promise<string[]> {
  const pkg = require(join(root, 'package.json')) as { dependencies: Record<string, string> };
  const sdkVersion = pkg.dependencies['wx-server-sdk'];
  const names = readdirSync(join(root, 'functions')).filter((n) => existsSync(join(root, 'functions', n, 'index.ts')));
  rmSync(outDir, { recursive: true, force: true });
  for (const name of names) {
    const dir = join(outDir, name);
    mkdirSync(dir, { recursive: true });
    await build({
      entryPoints: [join(root, 'functions', name, 'index.ts')],
      outfile: join(dir, 'index.js'),
      bundle: true,
      platform: 'node',
      format: 'cjs',
      target: 'node16',
      external: ['wx-server-sdk'],
      plugins: [lazyVendor],
      minify: true,
      keepNames: true,
      legalComments: 'none',
      logLevel: 'error',
    });
    await build({
      entryPoints: [require.resolve(LAZY_VENDOR)],
      outfile: join(dir, `${LAZY_VENDOR}.js`),
      bundle: true,
      plugins: [deferDeps],
      platform: 'node',
      format: 'cjs',
      target: 'node16',
      minify: true,
      legalComments: 'none',
      logLevel: 'error',
    });
    writeFileSync(
      join(dir, 'package.json'),
      `${JSON.stringify({ name, version: '1.0.0', private: true, main: 'index.js', dependencies: { 'wx-server-sdk': sdkVersion } }, null, 2)}\n`,
    );
    copyFileSync(join(root, 'functions', name, 'config.json'), join(dir, 'config.json'));
  }
  return names;
}

// Run as a script (scripts/run.js sets argv[1]); imported by tests otherwise.
if (process.argv[1] === __filename) {
  buildAll()
    .then((names) => console.log(`built ${names.map((n) => `dist/cloudfunctions/${n}`).join(', ')}`))
    .catch((err) => {
      console.error(err instanceof Error ? err.message : err);
      process.exit(1);
    });
}
